"""Splits: near-duplicates and an item's rounds share a split; splits are stable across runs and additions."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from curate_helpers import jpeg_bytes, make_sample, smooth_random_image
from PIL import Image

from vlforge.curate.config import DedupConfig, SplitConfig
from vlforge.curate.dedup import find_duplicates
from vlforge.curate.splits import assign_splits, split_for, split_groups, unit_interval
from vlforge.records import ImageRef, Sample
from vlforge.store import ImageStore

Put = Callable[[Path | bytes], ImageRef]
RATIOS = SplitConfig(train=0.6, val=0.2, test=0.2)


def _copy(image: Image.Image) -> bytes:
    """Half size, JPEG quality 60: a near-duplicate that pHash still matches."""
    buffer = io.BytesIO()
    image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=60)
    return buffer.getvalue()


def _corpus(put: Put, rng: np.random.Generator, count: int, prefix: str, planted: int, items: int) -> tuple[list[Sample], list[tuple[str, str]]]:
    """``count`` photo-like samples, ``planted`` near-duplicate copies of some of them, and ``items`` two-round items."""
    pictures = [smooth_random_image(rng) for _ in range(count)]
    samples = []
    for index, picture in enumerate(pictures):
        fields: dict[str, object] = {}
        if index < 2 * items:
            fields = {"item_id": f"{prefix}item{index // 2}", "round": index % 2 + 1}
        samples.append(make_sample(f"{prefix}{index:03d}", (put(jpeg_bytes(picture)),), answer=f"Photo {index}.", **fields))
    pairs = []
    for index in sorted(int(value) for value in rng.choice(count, size=planted, replace=False)):
        copy_id = f"{prefix}dup{index:03d}"
        samples.append(make_sample(copy_id, (put(_copy(pictures[index])),), answer=f"Copy of {index}."))
        pairs.append((f"{prefix}{index:03d}", copy_id))
    return samples, pairs


@pytest.fixture
def corpus(put: Put) -> tuple[list[Sample], list[tuple[str, str]]]:
    return _corpus(put, np.random.default_rng(2024), count=200, prefix="s", planted=30, items=20)


def test_planted_near_duplicates_and_item_rounds_never_straddle_splits(
    corpus: tuple[list[Sample], list[tuple[str, str]]], store: ImageStore
) -> None:
    samples, pairs = corpus
    duplicates = find_duplicates(samples, store, DedupConfig(drop=()))
    assert sorted(duplicates.groups) == sorted(pairs), "dedup finds exactly the planted pairs"
    assert duplicates.drops == ()

    splits = assign_splits(samples, duplicates.groups, RATIOS, seed=13)
    assert len(splits) == 230
    for original, copy in pairs:
        assert splits[original].split == splits[copy].split, (original, copy)
        assert splits[original].group == splits[copy].group
    for item in range(20):
        first, second = f"s{2 * item:03d}", f"s{2 * item + 1:03d}"
        assert splits[first].split == splits[second].split
        assert splits[first].group == f"item:sitem{item}"

    ungrouped = assign_splits(samples, [], RATIOS, seed=13)
    straddling = sum(ungrouped[a].split != ungrouped[b].split for a, b in pairs)
    assert straddling == 16, "without the dedup groups 16 of the 30 planted pairs straddle: the test has teeth"


def test_splits_are_stable_across_runs_and_when_unrelated_samples_are_added(
    corpus: tuple[list[Sample], list[tuple[str, str]]], store: ImageStore, put: Put
) -> None:
    samples, _ = corpus
    groups = find_duplicates(samples, store, DedupConfig(drop=())).groups
    first = assign_splits(samples, groups, RATIOS, seed=13)
    again = assign_splits(list(reversed(samples)), groups, RATIOS, seed=13)
    assert again == first

    extra, _ = _corpus(put, np.random.default_rng(99), count=100, prefix="x", planted=10, items=5)
    grown = samples + extra
    grown_groups = find_duplicates(grown, store, DedupConfig(drop=())).groups
    grown_splits = assign_splits(grown, grown_groups, RATIOS, seed=13)
    assert {sample_id: grown_splits[sample_id] for sample_id in first} == first

    other_seed = assign_splits(samples, groups, RATIOS, seed=14)
    assert sum(other_seed[key].split != first[key].split for key in first) == 132  # of 230


def test_ratios_are_approximately_respected() -> None:
    keys = [f"sample:{index:05d}" for index in range(5000)]
    counts = Counter(split_for(key, 7, SplitConfig(train=0.8, val=0.1, test=0.1)) for key in keys)
    assert counts["train"] / 5000 == pytest.approx(0.8, abs=0.02)
    assert counts["val"] / 5000 == pytest.approx(0.1, abs=0.015)
    assert counts["test"] / 5000 == pytest.approx(0.1, abs=0.015)
    assert sum(counts.values()) == 5000


def test_split_is_a_pure_function_of_key_and_seed() -> None:
    assert unit_interval("item:abc", 0) == unit_interval("item:abc", 0)
    assert 0.0 <= unit_interval("item:abc", 0) < 1.0
    assert unit_interval("item:abc", 0) != unit_interval("item:abc", 1)
    only_train = SplitConfig(train=1.0, val=0.0, test=0.0)
    assert {split_for(f"k{index}", 3, only_train) for index in range(200)} == {"train"}
    no_test = SplitConfig(train=0.5, val=0.5, test=0.0)
    assert {split_for(f"k{index}", 3, no_test) for index in range(200)} == {"train", "val"}


def test_group_key_is_the_smallest_anchor_and_ignores_ids_not_given() -> None:
    samples = [
        make_sample("b", item_id="item9"),
        make_sample("a"),
        make_sample("c", item_id="item9", round=2),
        make_sample("d"),
    ]
    keys = split_groups(samples, [("a", "c", "dropped-elsewhere")])
    assert keys == {"a": "item:item9", "b": "item:item9", "c": "item:item9", "d": "sample:d"}


def test_ratios_must_add_up_to_one() -> None:
    with pytest.raises(ValueError, match=r"split ratios train=0.8, val=0.1, test=0.2 add up to 1.1"):
        SplitConfig(train=0.8, val=0.1, test=0.2)
