"""A sample over its visual-token budget is released resized, with everything drawn on it scaled."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from curate_helpers import COCO_PHOTO, make_sample
from PIL import Image

from vlforge.config import Recipe
from vlforge.curate import curate
from vlforge.curate.config import TokenBudget
from vlforge.curate.downscale import downscale_sample, smallest_sizes
from vlforge.curate.stage import run_curate
from vlforge.curate.tokens import resize_rule, visual_tokens
from vlforge.manifest import read_split_manifest, write_manifest
from vlforge.prepare import prepare_run
from vlforge.records import Box, GuiAction, ImageRef, OcrLine
from vlforge.store import ImageStore


def test_each_image_shrinks_to_the_smallest_size_any_model_asked_for() -> None:
    asked = {"qwen2_5_vl": ((280, 196), (56, 56)), "qwen3_vl": ((256, 192), (64, 64))}
    assert smallest_sizes(asked) == ((256, 192), (56, 56))


def test_downscaled_photo_and_its_boxes(put: Callable[[Path], ImageRef], store: ImageStore) -> None:
    photo = put(COCO_PHOTO)  # 640x428
    sample = make_sample(
        "s1",
        (photo,),
        boxes=(Box(x1=64.0, y1=42.8, x2=320.0, y2=214.0, label="bowl"),),
        ocr_lines=(OcrLine(text="CARROTS", box=Box(x1=0.0, y1=0.0, x2=160.0, y2=107.0)),),
        actions=(GuiAction(type="click", point=(320.0, 214.0)),),
    )
    small = downscale_sample(sample, ((320, 214),), store)
    (image,) = small.images
    assert (image.width, image.height, image.format) == (320, 214, "png")
    with Image.open(store.path_for(image.sha256, image.format)) as stored:
        assert stored.size == (320, 214)
    # Scale 320/640 = 0.5 across, 214/428 = 0.5 down.
    assert (small.boxes[0].x1, small.boxes[0].y1, small.boxes[0].x2, small.boxes[0].y2) == pytest.approx((32.0, 21.4, 160.0, 107.0))
    assert small.ocr_lines[0].box == Box(x1=0.0, y1=0.0, x2=80.0, y2=53.5)
    assert small.actions[0].point == pytest.approx((160.0, 107.0))
    assert json.loads(small.lineage[-1].params_json) == {"from": [[640, 428]], "to": [[320, 214]]}
    assert small.sample_id == sample.sample_id and sample.images == (photo,)  # the input is not changed
    assert downscale_sample(sample, ((320, 214),), store).images == small.images  # same pixels, same bytes


def test_run_curate_releases_an_over_budget_photo_resized_within_budget(
    put: Callable[[Path], ImageRef], recipe: Recipe, tmp_path: Path
) -> None:
    budget = TokenBudget(max_visual_tokens=100, over_budget="downscale")
    curate_config = recipe.curate.model_copy(update={"token_budgets": {"qwen2_5_vl": budget}})
    run = prepare_run(tmp_path, "curate", "run1", recipe.model_copy(update={"curate": curate_config}), seed=0)
    photo = put(COCO_PHOTO)  # 345 Qwen2.5-VL tokens at 644x420, into run.store
    sample = make_sample("s1", (photo,), boxes=(Box(x1=64.0, y1=42.8, x2=320.0, y2=214.0, label="bowl"),))
    write_manifest([sample], run.run_dir.manifest)
    (asked,) = curate([sample], run.store, curate_config, 0).kept[0].resize_to["qwen2_5_vl"]

    run_curate(run)
    (released,), _ = read_split_manifest(run.run_dir.curated)
    (image,) = released.images
    assert (image.width, image.height) == asked
    assert visual_tokens(image.width, image.height, resize_rule("qwen2_5_vl", budget)) <= 100
    assert released.boxes[0].x2 == pytest.approx(320.0 * image.width / 640)
