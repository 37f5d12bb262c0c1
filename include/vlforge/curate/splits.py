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

import numpy as np

from vlforge.curate.columns import TextColumn
from vlforge.curate.config import SplitConfig
from vlforge.curate.dedup import ImageLink
from vlforge.curate.result import SPLITS, Split, SplitGroup
from vlforge.curate.summaries import SampleSummaries
from vlforge.records import Sample

SINGLE = "a single sample"


class SplitPlan:
    """The groups assigned to splits, largest first, and each sample's group by its position in the samples split.

    Held in columns, a few bytes a sample, since a manifest whose samples each have their own picture has
    as many groups as samples: ``SplitGroup`` objects are made when asked for (``group``, ``largest``, ``groups``).

    Attributes:
        group_at: for each position, its group's index (four bytes a sample, where a dict by id costs a hundred).
    """

    def __init__(
        self, keys: TextColumn, members: TextColumn, ends: array, splits: bytearray, linked_by: dict[int, str], group_at: array
    ) -> None:
        self._keys, self._members, self._ends, self._splits, self._linked_by = keys, members, ends, splits, linked_by
        self.group_at = group_at

    def __len__(self) -> int:
        return len(self._keys)

    def group(self, index: int) -> SplitGroup:
        start = self._ends[index - 1] if index else 0
        return SplitGroup(
            key=self._keys[index],
            members=tuple(self._members[member] for member in range(start, self._ends[index])),
            linked_by=self._linked_by.get(index, SINGLE),
            split=SPLITS[self._splits[index]],
        )

    def largest(self, count: int) -> list[SplitGroup]:
        """The first ``count`` groups: the largest."""
        return [self.group(index) for index in range(min(count, len(self)))]

    @property
    def groups(self) -> tuple[SplitGroup, ...]:
        """Every group, largest first."""
        return tuple(self.group(index) for index in range(len(self)))

    def split_at(self, position: int) -> Split:
        return SPLITS[self._splits[self.group_at[position]]]

    def group_key_at(self, position: int) -> str:
        return self._keys[self.group_at[position]]

    @property
    def split_of(self) -> dict[str, Split]:
        """Every sample's split, by its id."""
        group = 0
        split_of: dict[str, Split] = {}
        for member in range(len(self._members)):
            while member >= self._ends[group]:
                group += 1
            split_of[self._members[member]] = SPLITS[self._splits[group]]
        return split_of

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SPLITS, 0)
        for index in range(len(self)):
            counts[SPLITS[self._splits[index]]] += self._ends[index] - (self._ends[index - 1] if index else 0)
        return counts


def order_key(key: str, seed: int) -> int:
    """A deterministic 64-bit number from a group key and the seed (orders groups of equal size)."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16)


def as_summaries(samples: Sequence[Sample] | SampleSummaries) -> SampleSummaries:
    return samples if isinstance(samples, SampleSummaries) else SampleSummaries.of(samples)


def _chain(keys: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges that join every two ``positions`` whose ``keys`` are equal (each to the next with the same key)."""
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    return positions[order][:-1][same], positions[order][1:][same]


@dataclass(frozen=True)
class _Groups:
    """Samples joined into groups, a group after the other in order of their first ``sample_id``.

    Attributes:
        members: positions, group after group, each group's in ``sample_id`` order.
        starts: where each group starts in ``members``.
        sizes: each group's number of samples.
        id_rank: each position's rank among the sample ids.
        near_pairs: near-duplicate image pairs within each group, by group index.
    """

    members: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    id_rank: np.ndarray
    near_pairs: Counter[int]

    def positions(self, group: int) -> np.ndarray:
        return self.members[self.starts[group] : self.starts[group] + self.sizes[group]]


def _join(summaries: SampleSummaries, image_links: Iterable[ImageLink]) -> _Groups:
    """Join samples by item, by shared image and by near-duplicate images (connected components of those links)."""
    from scipy.sparse import coo_array  # imported here: scipy is heavy and recipes import this package at DAG parse time
    from scipy.sparse.csgraph import connected_components

    count = len(summaries)
    items = summaries.items.keys()
    named = np.flatnonzero(items != b"")
    digests, rows = summaries.images.flat()
    edges = [_chain(items[named], named), _chain(digests, rows)]
    distinct, first = np.unique(digests, return_index=True)
    near: list[int] = []
    for link in image_links:
        # Compared as numpy strings: a digest ending in zero bytes loses them as a Python value.
        ends = np.array([bytes.fromhex(link.first), bytes.fromhex(link.second)], dtype=distinct.dtype)
        found = np.minimum(np.searchsorted(distinct, ends), max(distinct.size - 1, 0))
        if distinct.size and np.all(distinct[found] == ends):
            pair = rows[first[found]]
            edges.append((pair[:1], pair[1:]))
            near.append(int(pair[0]))
    sources = np.concatenate([edge[0] for edge in edges]).astype(np.int64)
    targets = np.concatenate([edge[1] for edge in edges]).astype(np.int64)
    graph = coo_array((np.ones(sources.size, dtype=np.int8), (sources, targets)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    id_rank = np.empty(count, dtype=np.int64)
    id_rank[np.argsort(summaries.ids.keys(), kind="stable")] = np.arange(count)
    by_group = np.lexsort((id_rank, labels))
    grouped = labels[by_group]
    starts = np.flatnonzero(np.concatenate([[True], grouped[1:] != grouped[:-1]])) if count else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.append(starts, count))
    in_order = np.argsort(id_rank[by_group[starts]], kind="stable")  # groups by their first sample_id
    starts, sizes = starts[in_order], sizes[in_order]
    index_of_label = np.empty(labels.max() + 1 if count else 0, dtype=np.int64)
    index_of_label[grouped[starts]] = np.arange(starts.size)
    return _Groups(by_group, starts, sizes, id_rank, Counter(int(index_of_label[labels[position]]) for position in near))


def split_groups(samples: Sequence[Sample] | SampleSummaries, image_links: Iterable[ImageLink]) -> list[tuple[str, tuple[str, ...], str]]:
    """Join samples by item, by shared image and by near-duplicate images.

    Args:
        samples: the samples to split.
        image_links: near-duplicate pairs of distinct images; pairs of images no sample has are ignored.

    Returns:
        ``(key, members, linked_by)`` per group, members sorted, groups in order of their first member; see ``SplitGroup``.
    """
    summaries = as_summaries(samples)
    groups = _join(summaries, image_links)
    return [
        (
            _group_key(summaries, int(groups.positions(group)[0])),
            tuple(summaries.sample_id(position) for position in groups.positions(group).tolist()),
            _linked_by(summaries, groups.positions(group), groups.near_pairs[group]),
        )
        for group in range(groups.sizes.size)
    ]


def _group_key(summaries: SampleSummaries, position: int) -> str:
    if item := summaries.item_id(position):
        return f"item:{item}"
    if images := summaries.image_shas(position):
        return f"image:{images[0][:12]}"
    return f"sample:{summaries.sample_id(position)}"


def _linked_by(summaries: SampleSummaries, positions: np.ndarray, near_pairs: int) -> str:
    if positions.size == 1:
        return SINGLE
    reasons = []
    per_image = Counter(sha for position in positions.tolist() for sha in set(summaries.image_shas(position)))
    for sha, count in sorted(per_image.items(), key=lambda entry: (-entry[1], entry[0])):
        if count > 1:
            reasons.append(f"{count} samples share image {sha[:12]}")
    per_item = Counter(item for position in positions.tolist() if (item := summaries.item_id(position)))
    reasons += [f"{count} rounds of item {item}" for item, count in sorted(per_item.items()) if count > 1]
    if near_pairs:
        reasons.append(f"{near_pairs} near-duplicate image pair{'s' if near_pairs > 1 else ''} (pHash)")
    shown = reasons[:3] + ([f"{len(reasons) - 3} more links"] if len(reasons) > 3 else [])
    return "; ".join(shown)


def assign_splits(
    samples: Sequence[Sample] | SampleSummaries, image_links: Iterable[ImageLink], ratios: SplitConfig, seed: int
) -> SplitPlan:
    """Assign whole groups to splits, largest first, each to the split furthest below its target.

    Args:
        samples: the samples to split, or their summaries.
        image_links: near-duplicate image pairs from ``dedup`` (their samples share a split).
        ratios: the recipe's shares.
        seed: the release seed; orders groups of equal size.

    Returns:
        The ``SplitPlan``, whose positions are those of ``samples``.
    """
    summaries = as_summaries(samples)
    groups = _join(summaries, image_links)
    count, group_count = len(summaries), groups.sizes.size
    firsts = groups.members[groups.starts]
    keys = [_group_key(summaries, position) for position in firsts.tolist()]
    order_keys = np.array([order_key(key, seed) for key in keys], dtype=np.uint64)
    # Largest first; equal sizes in the seed's order; then by first sample_id, as the members' ids compare.
    sequence = np.lexsort((groups.id_rank[firsts], order_keys, -groups.sizes)).tolist()
    del order_keys
    targets = {split: getattr(ratios, split) * count for split in SPLITS}
    filled = dict.fromkeys(SPLITS, 0)
    plan_keys, members, ends, splits, linked_by = TextColumn(), TextColumn(), array("Q"), bytearray(), {}
    rank = np.empty(group_count, dtype=np.uint32)
    for index, group in enumerate(sequence):
        split = max(SPLITS, key=lambda name: (targets[name] - filled[name], -SPLITS.index(name)))
        filled[split] += int(groups.sizes[group])
        positions = groups.positions(group)
        plan_keys.append(keys[group])
        for position in positions.tolist():
            members.append(summaries.sample_id(position))
        ends.append(len(members))
        splits.append(SPLITS.index(split))
        if positions.size > 1:
            linked_by[index] = _linked_by(summaries, positions, groups.near_pairs[group])
        rank[group] = index
    by_start = np.argsort(groups.starts)  # the groups in the order their members lie in ``groups.members``
    group_at = np.empty(count, dtype=np.uint32)
    group_at[groups.members] = rank[np.repeat(by_start, groups.sizes[by_start])]
    return SplitPlan(plan_keys, members, ends, splits, linked_by, array("I", group_at.tobytes()))
