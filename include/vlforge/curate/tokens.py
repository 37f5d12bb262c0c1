"""Visual tokens per target model, and the per-sample token budget (drop or downscale).

The resize rule is the one the official preprocessing applies before the vision
encoder, ``smart_resize`` (``vlforge.geometry.smart_resize`` reproduces it):

* ``QwenLM/Qwen3-VL``, ``qwen-vl-utils/src/qwen_vl_utils/vision_process.py``:
  ``fetch_image`` uses ``patch_factor = image_patch_size * SPATIAL_MERGE_SIZE``
  (``SPATIAL_MERGE_SIZE = 2``; ``image_patch_size`` 14 for Qwen2/2.5-VL, 16 for
  Qwen3-VL) and defaults ``min_pixels = IMAGE_MIN_TOKEN_NUM * factor**2`` (4) and
  ``max_pixels = IMAGE_MAX_TOKEN_NUM * factor**2`` (16384). ``smart_resize`` rounds
  each side to the nearest multiple of ``factor`` (at least ``factor``), then, when the
  area is above ``max_pixels``, floors both sides of ``side / beta`` with
  ``beta = sqrt(h * w / max_pixels)``, or, below ``min_pixels``, ceils ``side * beta``
  with ``beta = sqrt(min_pixels / (h * w))``; aspect ratios above 200 are rejected.
* The Qwen2.5-VL copy of ``qwen_vl_utils`` has ``IMAGE_FACTOR = 28``,
  ``MIN_PIXELS = 4 * 28 * 28`` and ``MAX_PIXELS = 16384 * 28 * 28``: the same rule
  with factor 28 (the recipe's ``export.qwen2_5_vl_resize`` holds the same numbers).
* transformers ``models/qwen3_vl/configuration_qwen3_vl.py``: vision ``patch_size = 16``,
  ``spatial_merge_size = 2``; the image processor cuts the resized image into
  ``(h / patch) x (w / patch)`` patches and the merger joins ``merge x merge`` of them
  into one token, so an image costs ``(h / factor) * (w / factor)`` tokens with
  ``factor = patch * merge`` (28 for Qwen2/2.5-VL, 32 for Qwen3-VL).

Note that transformers' own Qwen2-VL image processor defaults to other bounds
(``56 * 56`` to ``28 * 28 * 1280``); set ``min_pixels``/``max_pixels`` in the recipe's
token budget to what your trainer's processor uses.

Worked values (Qwen2.5-VL defaults, width x height): 640x428 becomes 644x420,
23 * 15 = 345 tokens; 1080x2400 becomes 1092x2408, 39 * 86 = 3354 tokens. With Qwen3-VL:
640x416 (260 tokens) and 1088x2400 (2550 tokens).

Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vlforge.curate.config import TokenBudget, VisionModel
from vlforge.geometry import smart_resize
from vlforge.records import ImageRef

Size = tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class ResizeRule:
    """How one model family sizes an image: ``factor = patch_size * merge_size`` and pixel bounds."""

    model: str
    patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


def _default_rule(model: str, patch_size: int) -> ResizeRule:
    factor = patch_size * 2
    return ResizeRule(model, patch_size, 2, 4 * factor * factor, 16384 * factor * factor)


MODEL_RULES: dict[str, ResizeRule] = {
    "qwen2_vl": _default_rule("qwen2_vl", 14),
    "qwen2_5_vl": _default_rule("qwen2_5_vl", 14),
    "qwen3_vl": _default_rule("qwen3_vl", 16),
}


def resize_rule(model: VisionModel | str, budget: TokenBudget | None = None) -> ResizeRule:
    """The model's rule with the budget's ``min_pixels``/``max_pixels`` where it sets them.

    Raises:
        ValueError: naming the unknown model and the known ones.
    """
    if model not in MODEL_RULES:
        raise ValueError(f"unknown vision model {model!r}; known models: {sorted(MODEL_RULES)}")
    rule = MODEL_RULES[model]
    if budget is None:
        return rule
    return ResizeRule(
        model=rule.model,
        patch_size=rule.patch_size,
        merge_size=rule.merge_size,
        min_pixels=rule.min_pixels if budget.min_pixels is None else budget.min_pixels,
        max_pixels=rule.max_pixels if budget.max_pixels is None else budget.max_pixels,
    )


def resized_size(width: int, height: int, rule: ResizeRule, max_pixels: int | None = None) -> Size:
    """The ``(width, height)`` the model's processor resizes a ``width x height`` image to.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        rule: the model's resize rule.
        max_pixels: a tighter area bound than the rule's, used when downscaling to a budget.

    Raises:
        ValueError: when the aspect ratio is above 200 (the processors reject such images).
    """
    bound = rule.max_pixels if max_pixels is None else max_pixels
    new_h, new_w = smart_resize(height, width, factor=rule.factor, min_pixels=rule.min_pixels, max_pixels=bound)
    return new_w, new_h


def tokens_for_size(width: int, height: int, rule: ResizeRule) -> int:
    """Visual tokens of an image already at a processor size: ``(h / factor) * (w / factor)``."""
    return (height // rule.factor) * (width // rule.factor)


def visual_tokens(width: int, height: int, rule: ResizeRule) -> int:
    """Visual tokens of a ``width x height`` image under the model's rule."""
    return tokens_for_size(*resized_size(width, height, rule), rule)


def sample_tokens(images: Sequence[ImageRef], rule: ResizeRule) -> int:
    """Visual tokens of all of a sample's images."""
    return sum(visual_tokens(image.width, image.height, rule) for image in images)


def fit_to_budget(sizes: Sequence[Size], rule: ResizeRule, max_tokens: int) -> tuple[Size, ...] | None:
    """Target sizes at which the images together use at most ``max_tokens``, or None when impossible.

    Each image gets a share of the budget in proportion to its current tokens,
    ``cap_i = floor(max_tokens * t_i / sum(t))``, and is smart-resized with
    ``max_pixels = cap_i * factor**2``; the result is a multiple of ``factor`` on both
    sides inside the rule's bounds, so the processor keeps it as it is.

    Args:
        sizes: ``(width, height)`` of each image.
        rule: the model's resize rule.
        max_tokens: the budget for all images together.

    Returns:
        One ``(width, height)`` per image, or None when even the smallest allowed sizes exceed the budget.
    """
    current = [tokens_for_size(*resized_size(w, h, rule), rule) for w, h in sizes]
    total = sum(current)
    if total <= max_tokens:
        return tuple(resized_size(w, h, rule) for w, h in sizes)
    targets: list[Size] = []
    for (width, height), tokens in zip(sizes, current, strict=True):
        cap_pixels = math.floor(max_tokens * tokens / total) * rule.factor * rule.factor
        if cap_pixels < rule.min_pixels:
            return None
        targets.append(resized_size(width, height, rule, max_pixels=min(cap_pixels, rule.max_pixels)))
    if sum(tokens_for_size(w, h, rule) for w, h in targets) > max_tokens:
        return None
    return tuple(targets)


@dataclass(frozen=True)
class BudgetOutcome:
    """A sample's visual tokens for one model and what the budget decided.

    Attributes:
        model: the model.
        tokens: tokens at the model's own resize, summed over images.
        tokens_after: tokens at ``resize_to`` (equal to ``tokens`` when nothing was resized).
        decision: ``fits``, ``downscale`` or ``drop``.
        resize_to: per image ``(width, height)`` when downscaled, else empty.
        detail: why it was dropped, when it was.
    """

    model: str
    tokens: int
    tokens_after: int
    decision: str
    resize_to: tuple[Size, ...] = ()
    detail: str = ""


def check_budget(images: Sequence[ImageRef], model: VisionModel | str, budget: TokenBudget) -> BudgetOutcome:
    """Count a sample's visual tokens for ``model`` and apply the budget's ``over_budget`` rule.

    Args:
        images: the sample's images.
        model: the target model.
        budget: its bounds, the most tokens per sample and the rule for samples over it.

    Returns:
        The outcome; a ``drop`` outcome says why in ``detail``.
    """
    rule = resize_rule(model, budget)
    try:
        tokens = sample_tokens(images, rule)
    except ValueError as error:
        return BudgetOutcome(model, 0, 0, "drop", detail=f"{model} processor rejects the image: {error}")
    limit = budget.max_visual_tokens
    if limit is None or tokens <= limit:
        return BudgetOutcome(model, tokens, tokens, "fits")
    if budget.over_budget == "drop":
        return BudgetOutcome(model, tokens, tokens, "drop", detail=f"{tokens} {model} visual tokens exceed the budget of {limit}")
    targets = fit_to_budget([(image.width, image.height) for image in images], rule, limit)
    if targets is None:
        return BudgetOutcome(
            model, tokens, tokens, "drop", detail=f"{tokens} {model} visual tokens cannot be brought within {limit} by downscaling"
        )
    after = sum(tokens_for_size(w, h, rule) for w, h in targets)
    return BudgetOutcome(model, tokens, after, "downscale", resize_to=targets)
