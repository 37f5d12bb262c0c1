"""Visual tokens per model from the official smart_resize rule, and the per-sample token budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from curate_helpers import COCO_PHOTO, PHONE_SCREEN

from vlforge.curate.config import TokenBudget
from vlforge.curate.tokens import (
    MODEL_RULES,
    check_budget,
    fit_to_budget,
    resize_rule,
    resized_size,
    tokens_for_size,
    visual_tokens,
)
from vlforge.geometry import smart_resize
from vlforge.records import ImageRef

# (model, width, height) -> (resized width, resized height, tokens); width x height throughout.
SIZES = [
    ("qwen2_5_vl", 640, 428, 644, 420, 345),  # 23 x 15 tokens
    ("qwen2_5_vl", 1080, 2400, 1092, 2408, 3354),  # 39 x 86; the mobile_agent cookbook addresses 1080x2400 as 1092x2408
    ("qwen2_vl", 640, 428, 644, 420, 345),
    ("qwen3_vl", 640, 428, 640, 416, 260),  # 20 x 13 at factor 32
    ("qwen3_vl", 1080, 2400, 1088, 2400, 2550),  # 34 x 75
    ("qwen2_5_vl", 20, 20, 56, 56, 4),  # below min_pixels = 4 * 28 * 28: scaled up to 2 x 2 merged patches
]


@pytest.mark.parametrize(("model", "width", "height", "new_w", "new_h", "tokens"), SIZES)
def test_resized_size_and_tokens(model: str, width: int, height: int, new_w: int, new_h: int, tokens: int) -> None:
    rule = resize_rule(model)
    assert resized_size(width, height, rule) == (new_w, new_h)
    assert visual_tokens(width, height, rule) == tokens


def test_rules_follow_qwen_vl_utils_defaults() -> None:
    assert (MODEL_RULES["qwen2_5_vl"].factor, MODEL_RULES["qwen2_5_vl"].min_pixels, MODEL_RULES["qwen2_5_vl"].max_pixels) == (
        28,
        3136,
        12845056,
    )
    assert (MODEL_RULES["qwen3_vl"].factor, MODEL_RULES["qwen3_vl"].min_pixels, MODEL_RULES["qwen3_vl"].max_pixels) == (
        32,
        4096,
        16777216,
    )


def test_real_fixture_images_are_counted_from_their_stored_size(put: Callable[[Path], ImageRef]) -> None:
    photo, screen = put(COCO_PHOTO), put(PHONE_SCREEN)
    assert (photo.width, photo.height, screen.width, screen.height) == (640, 428, 1080, 2400)
    outcome = check_budget((photo, screen), "qwen2_5_vl", TokenBudget(max_visual_tokens=None))
    assert (outcome.tokens, outcome.decision, outcome.resize_to) == (345 + 3354, "fits", ())


def test_budget_max_pixels_overrides_the_default() -> None:
    rule = resize_rule("qwen2_5_vl", TokenBudget(max_pixels=1280 * 28 * 28))
    assert resized_size(1080, 2400, rule) == (672, 1484)
    assert visual_tokens(1080, 2400, rule) == 24 * 53 == 1272


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown vision model 'qwen9_vl'; known models: \['qwen2_5_vl', 'qwen2_vl', 'qwen3_vl'\]"):
        resize_rule("qwen9_vl")


def _image(width: int, height: int) -> ImageRef:
    return ImageRef(sha256="0" * 64, width=width, height=height, format="png")


def test_over_budget_drop_rule() -> None:
    outcome = check_budget((_image(1080, 2400),), "qwen2_5_vl", TokenBudget(max_visual_tokens=3000, over_budget="drop"))
    assert (outcome.decision, outcome.tokens) == ("drop", 3354)
    assert outcome.detail == "3354 qwen2_5_vl visual tokens exceed the budget of 3000"


def test_over_budget_downscale_returns_a_size_that_fits_and_that_the_processor_keeps() -> None:
    budget = TokenBudget(max_visual_tokens=1000, over_budget="downscale")
    outcome = check_budget((_image(1080, 2400),), "qwen2_5_vl", budget)
    # max_pixels = 1000 * 28 * 28; beta = sqrt(1080 * 2400 / 784000); floor to multiples of 28.
    assert (outcome.decision, outcome.tokens, outcome.resize_to, outcome.tokens_after) == (
        "downscale",
        3354,
        ((588, 1316),),
        21 * 47,
    )
    rule = resize_rule("qwen2_5_vl")
    (width, height), = outcome.resize_to
    assert smart_resize(height, width, rule.factor, rule.min_pixels, rule.max_pixels) == (height, width)


def test_downscale_shares_the_budget_between_images_in_proportion() -> None:
    rule = resize_rule("qwen2_5_vl")
    targets = fit_to_budget([(1080, 2400), (640, 428)], rule, 2048)
    assert targets == ((784, 1792), (448, 308))
    assert sum(tokens_for_size(w, h, rule) for w, h in targets) == 28 * 64 + 16 * 11 == 1968


def test_budget_that_cannot_be_met_drops() -> None:
    images = tuple(_image(640, 428) for _ in range(6))
    outcome = check_budget(images, "qwen2_5_vl", TokenBudget(max_visual_tokens=20))
    assert outcome.decision == "drop"
    assert outcome.detail == "2070 qwen2_5_vl visual tokens cannot be brought within 20 by downscaling"


def test_within_budget_and_no_images() -> None:
    assert check_budget((_image(640, 428),), "qwen3_vl", TokenBudget(max_visual_tokens=260)).decision == "fits"
    empty = check_budget((), "qwen3_vl", TokenBudget(max_visual_tokens=1))
    assert (empty.decision, empty.tokens) == ("fits", 0)


def test_aspect_ratio_the_processor_rejects_is_a_drop() -> None:
    outcome = check_budget((_image(10000, 40),), "qwen2_5_vl", TokenBudget())
    assert outcome.decision == "drop"
    assert "aspect ratio of 10000x40 exceeds 200" in outcome.detail
