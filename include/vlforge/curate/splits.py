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
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vlforge.curate.config import SplitConfig
from vlforge.curate.dedup import ImageLink
from vlforge.curate.result import SPLITS, Split, SplitGroup
from vlforge.curate.union_find import UnionFind
from vlforge.records import Sample


class SplitMembers(Protocol):
    """What the splits read of the samples, by position: ``SampleList``, or curate's summaries (``vlforge.curate.summaries``)."""

    def __len__(self) -> int: ...
    def sample_id(self, position: int) -> str: ...
    def item_id(self, position: int) -> str: ...
    def image_shas(self, position: int) -> tuple[str, ...]: ...


class SampleList:
    """Samples in memory, as ``SplitMembers``."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def sample_id(self, position: int) -> str:
        return self.samples[position].sample_id

    def item_id(self, position: int) -> str:
        return self.samples[position].item_id

    def image_shas(self, position: int) -> tuple[str, ...]:
        return tuple(image.sha256 for image in self.samples[position].images)


@dataclass(frozen=True)
class SplitPlan:
    """The groups assigned to splits, largest first, and each sample's group by its position in the samples split.

    Attributes:
        groups: the groups, largest first.
        group_at: for each position, its group's index in ``groups`` (four bytes a sample, where a dict by id costs a hundred).
    """

    groups: tuple[SplitGroup, ...]
    group_at: array

    def split_at(self, position: int) -> Split:
        return self.groups[self.group_at[position]].split

    def group_key_at(self, position: int) -> str:
        return self.groups[self.group_at[position]].key

    @property
    def split_of(self) -> dict[str, Split]:
        """Every sample's split, by its id."""
        return {member: group.split for group in self.groups for member in group.members}

    def counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for group in self.groups:
            counts[group.split] += len(group.members)
        return {split: counts.get(split, 0) for split in SPLITS}


def order_key(key: str, seed: int) -> int:
    """A deterministic 64-bit number from a group key and the seed (orders groups of equal size)."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16)


def as_members(samples: Sequence[Sample] | SplitMembers) -> SplitMembers:
    return SampleList(samples) if isinstance(samples, Sequence) else samples


def grouped_positions(members: SplitMembers, image_links: Iterable[ImageLink]) -> list[tuple[str, list[int], str]]:
    """Join samples by item, by shared image and by near-duplicate images.

    Returns:
        ``(key, positions, linked_by)`` per group, positions in ``sample_id`` order; see ``SplitGroup``.
    """
    count = len(members)
    ids = [members.sample_id(position) for position in range(count)]
    by_id = sorted(range(count), key=ids.__getitem__)
    joined = UnionFind(count)
    first_with_item: dict[str, int] = {}
    first_with_image: dict[str, int] = {}
    for position in by_id:
        item = members.item_id(position)
        if item:
            joined.union(first_with_item.setdefault(item, position), position)
        for sha in members.image_shas(position):
            joined.union(first_with_image.setdefault(sha, position), position)
    del first_with_item
    near_by_root: Counter[int] = Counter()
    for link in image_links:
        if link.first in first_with_image and link.second in first_with_image:
            joined.union(first_with_image[link.first], first_with_image[link.second])
            near_by_root[first_with_image[link.first]] += 1
    del first_with_image
    near = Counter({joined.find(position): pairs for position, pairs in near_by_root.items()})
    by_root: dict[int, list[int]] = {}
    for position in by_id:
        by_root.setdefault(joined.find(position), []).append(position)
    return [
        (_group_key(members, positions[0], ids), positions, _linked_by(members, positions, near[root]))
        for root, positions in by_root.items()
    ]


def split_groups(samples: Sequence[Sample] | SplitMembers, image_links: Iterable[ImageLink]) -> list[tuple[str, tuple[str, ...], str]]:
    """Join samples by item, by shared image and by near-duplicate images.

    Args:
        samples: the samples to split.
        image_links: near-duplicate pairs of distinct images; pairs of images no sample has are ignored.

    Returns:
        ``(key, members, linked_by)`` per group, members sorted; see ``SplitGroup``.
    """
    members = as_members(samples)
    return [
        (key, tuple(members.sample_id(position) for position in positions), linked_by)
        for key, positions, linked_by in grouped_positions(members, image_links)
    ]


def _group_key(members: SplitMembers, position: int, ids: Sequence[str]) -> str:
    if item := members.item_id(position):
        return f"item:{item}"
    if images := members.image_shas(position):
        return f"image:{images[0][:12]}"
    return f"sample:{ids[position]}"


def _linked_by(members: SplitMembers, positions: Sequence[int], near_pairs: int) -> str:
    if len(positions) == 1:
        return "a single sample"
    reasons = []
    per_image = Counter(sha for position in positions for sha in set(members.image_shas(position)))
    for sha, count in sorted(per_image.items(), key=lambda entry: (-entry[1], entry[0])):
        if count > 1:
            reasons.append(f"{count} samples share image {sha[:12]}")
    per_item = Counter(item for position in positions if (item := members.item_id(position)))
    reasons += [f"{count} rounds of item {item}" for item, count in sorted(per_item.items()) if count > 1]
    if near_pairs:
        reasons.append(f"{near_pairs} near-duplicate image pair{'s' if near_pairs > 1 else ''} (pHash)")
    shown = reasons[:3] + ([f"{len(reasons) - 3} more links"] if len(reasons) > 3 else [])
    return "; ".join(shown)


def assign_splits(
    samples: Sequence[Sample] | SplitMembers, image_links: Iterable[ImageLink], ratios: SplitConfig, seed: int
) -> SplitPlan:
    """Assign whole groups to splits, largest first, each to the split furthest below its target.

    Args:
        samples: the samples to split: a list, or ``SplitMembers`` such as curate's summaries.
        image_links: near-duplicate image pairs from ``dedup`` (their samples share a split).
        ratios: the recipe's shares.
        seed: the release seed; orders groups of equal size.

    Returns:
        The ``SplitPlan``, whose positions are those of ``samples``.
    """
    members = as_members(samples)
    groups = grouped_positions(members, image_links)
    ids = [members.sample_id(position) for position in range(len(members))]
    groups.sort(key=lambda group: (-len(group[1]), order_key(group[0], seed), [ids[position] for position in group[1]]))
    targets = {split: getattr(ratios, split) * len(members) for split in SPLITS}
    filled = dict.fromkeys(SPLITS, 0)
    assigned: list[SplitGroup] = []
    group_at = array("I", [0]) * len(members)
    for index, (key, positions, linked_by) in enumerate(groups):
        split = max(SPLITS, key=lambda name: (targets[name] - filled[name], -SPLITS.index(name)))
        filled[split] += len(positions)
        assigned.append(SplitGroup(key=key, members=tuple(ids[position] for position in positions), linked_by=linked_by, split=split))
        for position in positions:
            group_at[position] = index
    return SplitPlan(groups=tuple(assigned), group_at=group_at)
