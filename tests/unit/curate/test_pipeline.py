"""curate(): filters, token budget, dedup and splits on real fixture images, with counts per reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from curate_helpers import PHONE_SCREEN, SKIMAGE, YOLO_IMAGES, make_sample, png_bytes, reencoded

from vlforge.curate import CurateConfig, TokenBudget, curate
from vlforge.records import ImageRef, Sample, Source
from vlforge.store import ImageStore

Put = Callable[[Path | bytes], ImageRef]
DESKTOP = Path("qwen25vl_cookbook_gui/assets/computer_use/computer_use2.jpeg")  # 2560x1440

CONFIG = CurateConfig(
    token_budgets={
        "qwen2_5_vl": TokenBudget(max_visual_tokens=2000, over_budget="downscale"),
        "qwen3_vl": TokenBudget(max_visual_tokens=3000, over_budget="drop"),
    }
)


@pytest.fixture
def samples(put: Put, fixtures_dir: Path) -> list[Sample]:
    bus, cat = put(YOLO_IMAGES / "img_1.jpg"), put(SKIMAGE / "chelsea.png")
    tiny = put(png_bytes(np.full((20, 20, 3), 128, dtype=np.uint8)))
    return [
        make_sample("a-bus", (bus,), answer="A red bus at a station."),
        make_sample("b-bus-copy", (put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg")),), answer="A London bus."),
        make_sample("c-cat", (cat,), answer="A tabby cat."),
        make_sample("d-cat-again", (cat,), answer="a tabby cat"),
        make_sample("e-tiny", (tiny,), answer="A grey square."),
        make_sample("f-blank", (put(SKIMAGE / "coffee.png"),), answer=" "),
        make_sample("g-phone", (put(PHONE_SCREEN),), answer="The settings screen.", task_type="gui_action"),
        make_sample("h-astronaut", (put(SKIMAGE / "astronaut.png"),), answer="An astronaut."),
        make_sample("i-desktop", (put(DESKTOP),), answer="A desktop.", task_type="gui_action"),
    ]


def test_curate_keeps_splits_and_drops_with_reasons(
    samples: list[Sample], store: ImageStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vlforge.curate.pipeline"):
        result = curate(samples, store, CONFIG, seed=1)

    # The re-encoded bus with another caption is annotators' work of its own: kept, in the bus's split.
    assert [kept.sample.sample_id for kept in result.kept] == ["a-bus", "b-bus-copy", "c-cat", "g-phone", "h-astronaut"]
    assert result.counts() == {"empty_answer": 1, "exact_duplicate": 1, "min_side": 1, "over_token_budget": 1}
    by_id = {drop.sample_id: drop for drop in result.dropped}
    assert [drop.sample_id for drop in result.dropped] == ["d-cat-again", "e-tiny", "f-blank", "i-desktop"]
    assert (by_id["e-tiny"].field, by_id["e-tiny"].value) == ("images[0].size", "20x20")
    assert (by_id["i-desktop"].stage, by_id["i-desktop"].value) == ("budget", "3600 tokens (qwen3_vl)")
    assert by_id["i-desktop"].message.endswith("3600 qwen3_vl visual tokens exceed the budget of 3000")
    assert "duplicates kept sample c-cat" in by_id["d-cat-again"].message

    phone = next(kept for kept in result.kept if kept.sample.sample_id == "g-phone")
    assert phone.resize_to == {"qwen2_5_vl": ((812, 1848),)}
    assert phone.visual_tokens == {"qwen2_5_vl": 29 * 66, "qwen3_vl": 2550}
    bus = result.kept[0]
    assert (bus.resize_to, bus.visual_tokens) == ({}, {"qwen2_5_vl": 23 * 12, "qwen3_vl": 20 * 10})  # 640x329

    assert all(kept.split in ("train", "val", "test") for kept in result.kept)
    assert sum(result.split_counts().values()) == 5
    assert result.kept[0].split == result.kept[1].split and result.kept[0].group == result.kept[1].group
    assert result.to_json()["dropped_by_reason"] == result.counts()
    (record,) = [record for record in caplog.records if record.name == "vlforge.curate.pipeline"]
    assert "9 samples in, 5 kept" in record.getMessage()
    assert "1 downscaled" in record.getMessage()
    assert "exact_duplicate 1" in record.getMessage()

    assert curate(list(reversed(samples)), store, CONFIG, seed=1).counts() == result.counts()
    again = curate(samples, store, CONFIG, seed=1)
    assert [(kept.sample.sample_id, kept.split) for kept in again.kept] == [
        (kept.sample.sample_id, kept.split) for kept in result.kept
    ]


def test_filters_run_before_dedup_so_a_usable_duplicate_is_kept(put: Put, store: ImageStore) -> None:
    cat = put(SKIMAGE / "chelsea.png")
    samples = [
        make_sample("a-first", (cat,), answer=""),  # would be kept by order, but has an empty answer
        make_sample("b-second", (cat,), answer="A cat."),
    ]
    result = curate(samples, store, CurateConfig(), seed=0)
    assert [kept.sample.sample_id for kept in result.kept] == ["b-second"]
    assert result.counts() == {"empty_answer": 1}


def test_a_sample_id_two_passed_samples_share_is_an_error_naming_both_records(put: Put, store: ImageStore) -> None:
    cat, coffee = put(SKIMAGE / "chelsea.png"), put(SKIMAGE / "coffee.png")
    first = make_sample("same", (cat,), answer="A cat.")
    second = make_sample("same", (coffee,), answer="A cup.").model_copy(update={"source": Source(file="other.json", record_id="r9")})
    with pytest.raises(ValueError, match=r"'same' occurs twice \(export.json record rec-same, other.json record r9\)"):
        curate([make_sample("ok", (cat,), answer="A tabby."), first, second], store, CurateConfig(), seed=0)
    dropped_first = make_sample("same", (cat,), answer="")  # dropped by the filters: no longer the same id twice
    assert [kept.sample.sample_id for kept in curate([dropped_first, second], store, CurateConfig(), seed=0).kept] == ["same"]


def test_config_rejects_unknown_models_and_keys() -> None:
    with pytest.raises(ValueError, match="qwen9_vl"):
        CurateConfig.model_validate({"token_budgets": {"qwen9_vl": {}}})
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        CurateConfig.model_validate({"dedup": {"phash": 3}})
    defaults = CurateConfig()
    assert sorted(defaults.token_budgets) == ["qwen2_5_vl", "qwen3_vl"]
    assert (defaults.dedup.level, defaults.dedup.image_max_distance, defaults.dedup.text_min_jaccard) == ("sample", 8, 0.8)
    assert (defaults.splits.train, defaults.splits.tolerance, defaults.max_drop_share) == (0.9, 0.02, 0.2)


def test_merge_same_image_makes_one_conversation_per_picture(put: Put, store: ImageStore) -> None:
    cat, coffee = put(SKIMAGE / "chelsea.png"), put(SKIMAGE / "coffee.png")
    samples = [
        make_sample("q2", (cat,), question="Is the cat asleep?", answer="No.", task_type="vqa"),
        make_sample("q1", (cat,), question="What colour is the cat?", answer="Grey and brown.", task_type="vqa"),
        make_sample("q3", (cat,), question="What colour is the cat?", answer="Grey and brown!", task_type="vqa"),  # a copy of q1
        make_sample("c1", (cat,), answer="A tabby cat on a chair."),  # a caption: another task type
        make_sample("q4", (coffee,), question="Is there milk?", answer="Yes.", task_type="vqa"),
    ]
    config = CurateConfig.model_validate({"dedup": {"merge_same_image": True}, "splits": {"accept_off_target": True}})
    result = curate(samples, store, config, seed=0)

    assert [drop.sample_id for drop in result.dropped] == ["q3"]
    (merged_id, members), = result.merged_from.items()
    assert members == ("q1", "q2")
    by_id = {kept.sample.sample_id: kept.sample for kept in result.kept}
    assert sorted(by_id) == sorted(["c1", "q4", merged_id])
    merged = by_id[merged_id]
    assert [(turn.role, turn.content) for turn in merged.conversations] == [
        ("user", "<image>\nWhat colour is the cat?"),
        ("assistant", "Grey and brown."),
        ("user", "Is the cat asleep?"),
        ("assistant", "No."),
    ]
    assert merged.lineage[-1].op == "merge" and '"samples": ["q1", "q2"]' in merged.lineage[-1].params_json
    assert result.to_json()["merged"] == 2 and result.to_json()["merged_conversations"] == 1
    assert result.to_json()["samples_in"] == 5 and result.to_json()["drop_share"] == 0.2
    assert len({kept.split for kept in result.kept if kept.sample.images[0] == cat}) == 1
    assert [kept.sample.sample_id for kept in curate(samples, store, CurateConfig(), seed=0).kept] == ["q2", "q1", "c1", "q4"]


def test_samples_of_other_pictures_or_with_boxes_are_never_merged(put: Put) -> None:
    from vlforge.curate.merge import merge_key, merged_sample
    from vlforge.records import Box

    cat, coffee = put(SKIMAGE / "chelsea.png"), put(SKIMAGE / "coffee.png")
    boxed = make_sample("b1", (cat,), task_type="grounding", boxes=(Box(x1=1, y1=1, x2=9, y2=9, label="cat"),))
    assert merge_key(boxed) is None and merge_key(make_sample("n1", (cat,), answer=None)) is None
    with pytest.raises(ValueError, match=r"samples \['a1', 'a2'\] do not share images, videos and task type"):
        merged_sample([make_sample("a2", (coffee,)), make_sample("a1", (cat,))])
