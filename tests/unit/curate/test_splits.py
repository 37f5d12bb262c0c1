"""Splits: groups never straddle, shares come as close to the recipe as the groups allow, same seed same splits."""

from __future__ import annotations

from collections import Counter

import pytest
from curate_helpers import make_sample

from vlforge.curate.config import SplitConfig
from vlforge.curate.dedup import ImageLink
from vlforge.curate.splits import assign_splits, split_groups
from vlforge.curate.summaries import SampleSummaries
from vlforge.records import ImageRef, Sample

RATIOS = SplitConfig(train=0.8, val=0.1, test=0.1)


def _image(number: int) -> ImageRef:
    return ImageRef(sha256=f"{number:02x}" * 32, width=64, height=64, format="png")


def _dataset(sizes: list[int]) -> list[Sample]:
    """One group per size: that many samples of one image."""
    return [
        make_sample(f"g{group:02d}-s{index:02d}", (_image(group),), answer=f"answer {index}")
        for group, size in enumerate(sizes)
        for index in range(size)
    ]


def test_groups_never_straddle_and_shares_come_close() -> None:
    sizes = [30, 12, 11, 9, 8, 8, 7, 5, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1]  # 115 samples
    samples = _dataset(sizes)
    plan = assign_splits(samples, [], RATIOS, seed=5)
    for group in range(len(sizes)):
        assert len({plan.split_of[sample.sample_id] for sample in samples if sample.sample_id.startswith(f"g{group:02d}")}) == 1
    counts = plan.counts()
    assert sum(counts.values()) == 115
    assert plan.groups[0].members[0] == "g00-s00" and plan.groups[0].split == "train"  # largest first, into train
    for split, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(counts[split] / 115 - ratio) <= 1 / 115 + 1e-9, counts  # within one sample: the small groups fill
    reordered = assign_splits(list(reversed(samples)), [], RATIOS, seed=5)
    assert reordered.groups == plan.groups and reordered.split_of == plan.split_of
    assert [reordered.split_at(position) for position in range(len(samples))] == [
        plan.split_of[sample.sample_id] for sample in reversed(samples)
    ]
    other = assign_splits(samples, [], RATIOS, seed=6)
    assert other.counts() == counts and other.split_of != plan.split_of  # the seed orders groups of equal size


def test_a_near_duplicate_link_joins_images_whose_digests_end_in_zero_bytes() -> None:
    zeros, other = _image(0), _image(5)  # 00...00: numpy drops a string's trailing zero bytes when it hands one back
    samples = [make_sample("a", (zeros,)), make_sample("b", (other,)), make_sample("c", (_image(6),))]
    groups = split_groups(SampleSummaries.of(samples), [ImageLink(zeros.sha256, other.sha256, 3)])
    assert sorted(members for _, members, _ in groups) == [("a", "b"), ("c",)]


def test_items_images_and_near_duplicate_images_join_groups() -> None:
    samples = [
        make_sample("a", (_image(1),), item_id="item9"),
        make_sample("b", (_image(2),), item_id="item9", round=2),
        make_sample("c", (_image(2),)),
        make_sample("d", (_image(3),)),
        make_sample("e", (_image(4),)),
        make_sample("f"),
    ]
    links = [ImageLink(_image(3).sha256, _image(4).sha256, 6), ImageLink(_image(4).sha256, _image(99).sha256, 2)]
    groups = {key: (members, linked_by) for key, members, linked_by in split_groups(samples, links)}
    assert groups == {
        "item:item9": (("a", "b", "c"), f"2 samples share image {_image(2).sha256[:12]}; 2 rounds of item item9"),
        f"image:{_image(3).sha256[:12]}": (("d", "e"), "1 near-duplicate image pair (pHash)"),
        "sample:f": (("f",), "a single sample"),
    }


def test_one_item_cannot_be_split() -> None:
    samples = [make_sample("only", (_image(7),), item_id="item1")]
    plan = assign_splits(samples, [], SplitConfig(), seed=0)
    assert plan.counts() == {"train": 1, "val": 0, "test": 0}
    assert [group.describe() for group in plan.groups] == ["item:item1 (1 samples in train: a single sample)"]


def test_ratios_must_add_up_to_one() -> None:
    with pytest.raises(ValueError, match=r"split ratios train=0.8, val=0.1, test=0.2 add up to 1.1"):
        SplitConfig(train=0.8, val=0.1, test=0.2)


def test_a_split_with_no_share_gets_nothing() -> None:
    plan = assign_splits(_dataset([3, 2, 2, 1, 1, 1]), [], SplitConfig(train=0.5, val=0.5, test=0.0), seed=1)
    assert plan.counts() == {"train": 5, "val": 5, "test": 0}
    assert Counter(group.split for group in plan.groups)["test"] == 0
