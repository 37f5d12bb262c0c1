"""Train/val/test splits that never split a group and come as close to the recipe's shares as the groups allow.

**Groups.** Samples that must share a split are joined: all rounds of one ``item_id``,
all samples of one image (a VQA or grounding set has several per photo), and samples
whose images are near-duplicates (``vlforge.curate.dedup.ImageLink``: a resized copy of
a test photo in train would leak it). Joining is transitive, so each group records what
linked it, for the reason when a split misses its share.

**Assignment.** Each split's target is its ratio times the number of samples. Groups are
taken largest first (equal sizes in an order drawn from the seed: the first 64 bits of
``sha256(f"{seed}:{key}")``) and each goes to the split furthest below its target in
samples (ties: train, val, test). Large groups land while every split still has room and
small ones fill the remainders, so each share ends within about one group's size of its
target. The same samples and seed give the same splits; adding samples may move groups.

The curate gate checks each split's share against its ratio (``vlforge.curate.facts``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vlforge.curate.config import SplitConfig
from vlforge.curate.dedup import ImageLink, SampleSummary
from vlforge.curate.result import SPLITS, Split, SplitGroup
from vlforge.curate.union_find import UnionFind
from vlforge.records import Sample

# What the splits read of a sample (its id, item and images): the sample itself or its dedup summary.
SplitMember = Sample | SampleSummary


@dataclass(frozen=True)
class SplitPlan:
    """Every sample's split and the groups they were assigned in, largest first."""

    split_of: dict[str, Split]
    group_of: dict[str, str]
    groups: tuple[SplitGroup, ...]

    def counts(self) -> dict[str, int]:
        counts = Counter(self.split_of.values())
        return {split: counts.get(split, 0) for split in SPLITS}


def order_key(key: str, seed: int) -> int:
    """A deterministic 64-bit number from a group key and the seed (orders groups of equal size)."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16)


def split_groups(samples: Sequence[SplitMember], image_links: Iterable[ImageLink]) -> list[tuple[str, tuple[str, ...], str]]:
    """Join samples by item, by shared image and by near-duplicate images.

    Args:
        samples: the samples to split.
        image_links: near-duplicate pairs of distinct images; pairs of images no sample has are ignored.

    Returns:
        ``(key, members, linked_by)`` per group, members sorted; see ``SplitGroup``.
    """
    ordered = sorted(samples, key=lambda sample: sample.sample_id)
    # An item of one sample links nothing, and most items have one: only shared items get a node.
    rounds = Counter(sample.item_id for sample in ordered if sample.item_id)
    shared_items = {item for item, count in rounds.items() if count > 1}
    del rounds
    nodes = [sample.sample_id for sample in ordered]
    nodes += sorted(f"item:{item}" for item in shared_items)
    nodes += sorted({f"image:{image.sha256}" for s in ordered for image in s.images})
    union = UnionFind(nodes)
    present = set(nodes)
    for sample in ordered:
        if sample.item_id in shared_items:
            union.union(sample.sample_id, f"item:{sample.item_id}")
        for image in sample.images:
            union.union(sample.sample_id, f"image:{image.sha256}")
    near: list[ImageLink] = []
    for link in image_links:
        first, second = f"image:{link.first}", f"image:{link.second}"
        if first in present and second in present:
            union.union(first, second)
            near.append(link)
    root_of = {sample.sample_id: union.find(sample.sample_id) for sample in ordered}
    members: dict[str, list[SplitMember]] = {}
    for sample in ordered:
        members.setdefault(root_of[sample.sample_id], []).append(sample)
    near_by_root = Counter(union.find(f"image:{link.first}") for link in near)
    groups = []
    for root, group in members.items():
        groups.append((_group_key(group[0]), tuple(s.sample_id for s in group), _linked_by(group, near_by_root[root])))
    return groups


def _group_key(sample: SplitMember) -> str:
    if sample.item_id:
        return f"item:{sample.item_id}"
    if sample.images:
        return f"image:{sample.images[0].sha256[:12]}"
    return f"sample:{sample.sample_id}"


def _linked_by(group: list[SplitMember], near_pairs: int) -> str:
    if len(group) == 1:
        return "a single sample"
    reasons = []
    per_image = Counter(sha for sample in group for sha in {image.sha256 for image in sample.images})
    for sha, count in sorted(per_image.items(), key=lambda entry: (-entry[1], entry[0])):
        if count > 1:
            reasons.append(f"{count} samples share image {sha[:12]}")
    per_item = Counter(sample.item_id for sample in group if sample.item_id)
    reasons += [f"{count} rounds of item {item}" for item, count in sorted(per_item.items()) if count > 1]
    if near_pairs:
        reasons.append(f"{near_pairs} near-duplicate image pair{'s' if near_pairs > 1 else ''} (pHash)")
    shown = reasons[:3] + ([f"{len(reasons) - 3} more links"] if len(reasons) > 3 else [])
    return "; ".join(shown)


def assign_splits(samples: Sequence[SplitMember], image_links: Iterable[ImageLink], ratios: SplitConfig, seed: int) -> SplitPlan:
    """Assign whole groups to splits, largest first, each to the split furthest below its target.

    Args:
        samples: the samples to split.
        image_links: near-duplicate image pairs from ``dedup`` (their samples share a split).
        ratios: the recipe's shares.
        seed: the release seed; orders groups of equal size.

    Returns:
        The ``SplitPlan``.
    """
    groups = split_groups(samples, image_links)
    groups.sort(key=lambda group: (-len(group[1]), order_key(group[0], seed), group[1]))
    targets = {split: getattr(ratios, split) * len(samples) for split in SPLITS}
    filled = dict.fromkeys(SPLITS, 0)
    assigned: list[SplitGroup] = []
    for key, members, linked_by in groups:
        split = max(SPLITS, key=lambda name: (targets[name] - filled[name], -SPLITS.index(name)))
        filled[split] += len(members)
        assigned.append(SplitGroup(key=key, members=members, linked_by=linked_by, split=split))
    return SplitPlan(
        split_of={member: group.split for group in assigned for member in group.members},
        group_of={member: group.key for group in assigned for member in group.members},
        groups=tuple(assigned),
    )
