"""Train/val/test splits that keep near-duplicates and an item's rounds together and stay put across runs.

Samples are joined into split groups: every duplicate group from ``dedup`` and all
rounds of one ``item_id``. A group's key is the smallest of its members' anchors
(``item:<item_id>``, or ``sample:<sample_id>`` for samples without an item), so adding
unrelated samples never changes it. The split is a pure function of the key and the
seed: ``u = int(sha256(f"{seed}:{key}")[:16], 16) / 2**64`` goes to ``train`` when
``u < train``, to ``val`` when ``u < train + val``, else to ``test``. No list is
shuffled, so a sample's split depends only on its own group, and the ratios hold for
groups (for samples, approximately).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vlforge.curate.config import SplitConfig
from vlforge.curate.result import SPLITS, Split
from vlforge.curate.union_find import UnionFind
from vlforge.records import Sample


@dataclass(frozen=True)
class SplitAssignment:
    split: Split
    group: str


def anchor(sample: Sample) -> str:
    """What ties a sample to its group across runs: its item, else itself."""
    return f"item:{sample.item_id}" if sample.item_id else f"sample:{sample.sample_id}"


def unit_interval(key: str, seed: int) -> float:
    """A deterministic number in ``[0, 1)`` from ``key`` and ``seed``: the first 64 bits of their sha256."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:16], 16) / float(1 << 64)


def split_for(key: str, seed: int, ratios: SplitConfig) -> Split:
    """The split of a group key under ``ratios`` (cumulative thresholds on ``unit_interval``)."""
    value = unit_interval(key, seed)
    bound = 0.0
    shares = [(split, getattr(ratios, split)) for split in SPLITS]
    for split, share in shares:
        bound += share
        if value < bound:
            return split
    return next(split for split, share in reversed(shares) if share > 0)


def split_groups(samples: Sequence[Sample], duplicate_groups: Iterable[Iterable[str]]) -> dict[str, str]:
    """The split group key of every sample: duplicate groups and item rounds joined by union-find.

    Args:
        samples: the samples to split.
        duplicate_groups: groups of sample ids that must share a split (from ``dedup``);
            ids not among ``samples`` are ignored, so groups found before dropping can be passed.

    Returns:
        sample_id -> group key (the smallest member anchor).
    """
    ids = [sample.sample_id for sample in samples]
    union = UnionFind(ids)
    present = set(ids)
    for group in duplicate_groups:
        members = [member for member in group if member in present]
        for member in members[1:]:
            union.union(members[0], member)
    first_of_item: dict[str, str] = {}
    for sample in samples:
        if sample.item_id:
            union.union(first_of_item.setdefault(sample.item_id, sample.sample_id), sample.sample_id)
    by_id = {sample.sample_id: sample for sample in samples}
    keys: dict[str, str] = {}
    for group in union.groups():
        key = min(anchor(by_id[member]) for member in group)
        keys.update(dict.fromkeys(group, key))
    return keys


def assign_splits(
    samples: Sequence[Sample], duplicate_groups: Iterable[Iterable[str]], ratios: SplitConfig, seed: int
) -> dict[str, SplitAssignment]:
    """Split every sample so that each split group lands in exactly one split.

    Args:
        samples: the samples to split.
        duplicate_groups: groups of sample ids from ``dedup`` that must share a split.
        ratios: the share of groups per split.
        seed: the release seed; the same seed gives the same splits.

    Returns:
        sample_id -> its split and group key.
    """
    keys = split_groups(samples, duplicate_groups)
    splits = {key: split_for(key, seed, ratios) for key in set(keys.values())}
    return {sample_id: SplitAssignment(splits[key], key) for sample_id, key in keys.items()}
