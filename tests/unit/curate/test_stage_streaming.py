"""run_curate streams the manifest: a batch of two samples at a time writes the same bytes as curating them all at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from curate_helpers import PHONE_SCREEN, SKIMAGE, YOLO_IMAGES, boxes, make_sample, png_bytes, reencoded

import vlforge.manifest
from vlforge.config import Recipe
from vlforge.curate import CurateConfig, TokenBudget, curate
from vlforge.curate.downscale import downscale_sample, smallest_sizes
from vlforge.curate.stage import run_curate
from vlforge.manifest import read_split_manifest, write_manifest, write_split_manifest
from vlforge.prepare import prepare_run
from vlforge.records import ImageRef, Sample
from vlforge.run import RunDescription

Put = Callable[[Path | bytes], ImageRef]
CONFIG = CurateConfig(
    max_drop_share=1.0,
    token_budgets={
        "qwen2_5_vl": TokenBudget(max_visual_tokens=300, over_budget="downscale"),
        "qwen3_vl": TokenBudget(max_visual_tokens=3000, over_budget="drop"),
    },
    splits={"train": 0.6, "val": 0.2, "test": 0.2, "accept_off_target": True},
)
DESKTOP = Path("qwen25vl_cookbook_gui/assets/computer_use/computer_use2.jpeg")  # 3600 qwen3_vl tokens
OUTPUTS = ("curated", "curate_drops", "curate_stats")


@pytest.fixture
def samples(put: Put, fixtures_dir: Path) -> list[Sample]:
    """Every outcome: kept in each split, downscaled, dropped by a filter, by the budget and as a duplicate."""
    bus, cat, coffee = put(YOLO_IMAGES / "img_1.jpg"), put(SKIMAGE / "chelsea.png"), put(SKIMAGE / "coffee.png")
    bus_copy = put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg"))
    tiny = put(png_bytes(np.full((20, 20, 3), 128, dtype=np.uint8)))
    return [
        make_sample("a-bus", (bus,), answer="A red bus at a station.", boxes=boxes("bus")),
        make_sample("b-bus-copy", (bus_copy,), answer="A red bus at a station!", boxes=boxes("bus")),
        make_sample("c-cat", (cat,), answer="A tabby cat."),
        make_sample("d-cat-again", (cat,), answer="a tabby cat"),
        make_sample("e-tiny", (tiny,), answer="A grey square."),
        make_sample("f-blank", (coffee,), answer=" "),
        make_sample("g-phone", (put(PHONE_SCREEN),), answer="The settings screen.", task_type="gui_action"),
        make_sample("h-astronaut", (put(SKIMAGE / "astronaut.png"),), answer="An astronaut.", gold=True),
        make_sample("i-coffee", (coffee,), answer="A cup of coffee on a saucer."),
        make_sample("j-motorcycle", (put(SKIMAGE / "motorcycle_left.png"),), answer="A motorcycle from the left."),
        make_sample("k-coins", (put(SKIMAGE / "coins.png"),), answer="Coins on a table."),
        make_sample("l-rocket", (put(SKIMAGE / "rocket.jpg"),), answer="A rocket on its pad."),
        make_sample("m-desktop", (put(DESKTOP),), answer="A desktop.", task_type="gui_action"),
    ]


def curated_run(tmp_path: Path, name: str, recipe: Recipe, samples: list[Sample]) -> RunDescription:
    run = prepare_run(tmp_path, "curate", name, recipe.model_copy(update={"curate": CONFIG}), seed=4)
    write_manifest(samples, run.run_dir.manifest)
    return run


def write_in_memory(run: RunDescription, samples: list[Sample]) -> None:
    """What run_curate wrote before it streamed: every sample curated at once, then the three files."""
    result = curate(samples, run.store, CONFIG, run.seed)
    kept = [
        downscale_sample(item.sample, smallest_sizes(item.resize_to), run.store) if item.resize_to else item.sample
        for item in result.kept
    ]
    write_split_manifest(kept, [item.split for item in result.kept], run.run_dir.curated)
    drops = "".join(json.dumps(drop.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for drop in result.dropped)
    run.run_dir.curate_drops.write_text(drops, encoding="utf-8")
    stats = {"samples_in": len(samples), **result.to_json(), "seed": run.seed}
    run.run_dir.curate_stats.write_text(json.dumps(stats, indent=2, sort_keys=True), encoding="utf-8")


def output_bytes(run: RunDescription) -> dict[str, bytes]:
    return {name: getattr(run.run_dir, name).read_bytes() for name in OUTPUTS}


def test_streaming_in_batches_of_two_writes_the_bytes_of_curating_at_once(
    samples: list[Sample], recipe: Recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vlforge.manifest, "BATCH_ROWS", 2)
    streamed, at_once = curated_run(tmp_path, "streamed", recipe, samples), curated_run(tmp_path, "at_once", recipe, samples)

    stats = run_curate(streamed)
    write_in_memory(at_once, samples)

    assert output_bytes(streamed) == output_bytes(at_once)
    assert pq.ParquetFile(streamed.run_dir.curated).num_row_groups == 5  # 9 kept samples, written two at a time
    # Every kind of outcome took part.
    assert stats["dropped_by_reason"] == {"empty_answer": 1, "exact_duplicate": 1, "min_side": 1, "over_token_budget": 1}
    assert all(stats["splits"].values())
    released, _ = read_split_manifest(streamed.run_dir.curated)
    assert any(sample.lineage and sample.lineage[-1].op == "downscale" for sample in released)


def test_one_batch_and_batches_of_two_give_the_same_curation(
    samples: list[Sample], recipe: Recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = curated_run(tmp_path, "whole", recipe, samples)
    run_curate(whole)
    monkeypatch.setattr(vlforge.manifest, "BATCH_ROWS", 2)
    pieces = curated_run(tmp_path, "pieces", recipe, samples)
    run_curate(pieces)

    assert pq.ParquetFile(whole.run_dir.curated).num_row_groups == 1
    assert read_split_manifest(pieces.run_dir.curated) == read_split_manifest(whole.run_dir.curated)
    assert output_bytes(pieces)["curate_drops"] == output_bytes(whole)["curate_drops"]
    assert output_bytes(pieces)["curate_stats"] == output_bytes(whole)["curate_stats"]
    run_curate(pieces)  # idempotent: a second run rewrites the same files
    assert read_split_manifest(pieces.run_dir.curated) == read_split_manifest(whole.run_dir.curated)
