"""Curate settings: dedup thresholds, sample filters, visual-token budgets per model and split ratios.

These are the ``curate:`` section of a recipe. This module imports nothing from
``vlforge.config`` so that ``Recipe`` can import ``CurateConfig`` without a cycle.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VisionModel = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
DedupLevel = Literal["sample", "image"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DedupConfig(_Section):
    """When a sample is a duplicate of another, and which duplicates are dropped (``vlforge.curate.dedup``).

    ``level: sample`` (the default, for annotated data) drops a sample only when both its
    media and its annotations duplicate a kept sample's: samples of one image with different
    questions, boxes or captions are each annotators' work and are all kept. ``level: image``
    drops every sample whose media duplicate a kept sample's, whatever its annotations: the
    usual choice for pretraining caption pairs, where one caption per image is enough.
    """

    enabled: bool = Field(True, description="False: nothing is dropped as a duplicate (samples of one image still share a split).")
    level: DedupLevel = "sample"
    image_max_distance: int | None = Field(
        8, ge=0, le=64, description="Images whose 64-bit pHashes differ in at most this many bits are near-duplicates; None: only equal files."
    )
    text_min_jaccard: float = Field(
        0.8, gt=0, le=1, description="Annotation texts whose character n-gram sets (boilerplate left out) reach this Jaccard are near-duplicates."
    )
    text_shingle_size: int = Field(5, ge=1)
    boilerplate_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="An n-gram in more than this share of samples (and more than boilerplate_min_samples of them) is "
        "boilerplate, e.g. a prompt template or fixed instruction, and is left out of the text comparison.",
    )
    boilerplate_min_samples: int = Field(
        20, ge=1, description="Small datasets: an n-gram in at most this many samples is never boilerplate."
    )
    merge_same_image: bool = Field(
        False, description="Merge the kept conversation samples of one picture into one multi-turn conversation (vlforge.curate.merge)."
    )
    box_min_iou: float = Field(
        0.9, gt=0, le=1, description="Boxes (relative to their images, matched one-to-one per label) must agree at least this much."
    )


class FilterConfig(_Section):
    """Thresholds on per-sample statistics; ``None`` switches a check off.

    Sides are in pixels of each image; the text length counts the characters of
    all conversation turns without media tags and is checked only on samples that
    have a conversation (boxes-only samples get their text at export).
    """

    min_side: int | None = Field(28, ge=1)
    max_side: int | None = Field(None, ge=1)
    max_aspect_ratio: float | None = Field(200.0, ge=1, description="Qwen-VL processors reject images above 200.")
    min_text_chars: int | None = Field(None, ge=0)
    max_text_chars: int | None = Field(20000, ge=1)
    drop_empty_answers: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> FilterConfig:
        if self.min_side is not None and self.max_side is not None and self.min_side > self.max_side:
            raise ValueError(f"min_side {self.min_side} is above max_side {self.max_side}")
        if self.min_text_chars is not None and self.max_text_chars is not None and self.min_text_chars > self.max_text_chars:
            raise ValueError(f"min_text_chars {self.min_text_chars} is above max_text_chars {self.max_text_chars}")
        return self


class TokenBudget(_Section):
    """A model's resize bounds and the most visual tokens one sample may use, summed over its images.

    ``min_pixels``/``max_pixels`` of ``None`` take the model's ``qwen_vl_utils`` defaults
    (see ``vlforge.curate.tokens.MODEL_RULES``); match the processor you train with.
    """

    max_visual_tokens: int | None = Field(16384, ge=1)
    over_budget: Literal["drop", "downscale"] = "downscale"
    min_pixels: int | None = Field(None, ge=1)
    max_pixels: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TokenBudget:
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} is above max_pixels {self.max_pixels}")
        return self


class SplitConfig(_Section):
    """Shares of samples per split, how far a split may miss its share, and whether a miss is accepted.

    Groups that must not straddle splits (rounds of one item, samples of one image, near-duplicate
    images) are assigned whole (``vlforge.curate.splits``). A split whose share of the samples is
    further than ``tolerance`` from its ratio fails the curate gate, naming the largest groups and
    what linked them, unless ``accept_off_target`` is true.
    """

    train: float = Field(0.9, ge=0, le=1)
    val: float = Field(0.05, ge=0, le=1)
    test: float = Field(0.05, ge=0, le=1)
    tolerance: float = Field(0.02, ge=0, le=1, description="Largest allowed |share - ratio| per split.")
    accept_off_target: bool = False

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"split ratios train={self.train}, val={self.val}, test={self.test} add up to {total}, not 1")
        return self


class CurateConfig(_Section):
    """The ``curate:`` section: dedup, filters, token budgets, splits, and the gate's drop limit."""

    max_drop_share: float = Field(
        0.2, ge=0, le=1, description="The curate gate fails when dedup, filters and budgets drop more than this share of samples."
    )
    dedup: DedupConfig = DedupConfig()
    filters: FilterConfig = FilterConfig()
    token_budgets: dict[VisionModel, TokenBudget] = Field(
        default_factory=lambda: {"qwen2_5_vl": TokenBudget(), "qwen3_vl": TokenBudget()}
    )
    splits: SplitConfig = SplitConfig()
