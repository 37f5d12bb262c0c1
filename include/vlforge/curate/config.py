"""Curate settings: dedup thresholds, sample filters, visual-token budgets per model and split ratios.

These are the ``curate:`` section of a recipe. This module imports nothing from
``vlforge.config`` so that ``Recipe`` can import ``CurateConfig`` without a cycle.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VisionModel = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
DedupRelation = Literal["exact", "image", "text"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DedupConfig(_Section):
    """How duplicates are found and which kinds of duplicate are dropped.

    Every relation groups samples for the splits (a group never straddles splits);
    only the relations in ``drop`` also drop all but the first sample of a group.
    """

    image_max_distance: int | None = Field(
        8, ge=0, le=64, description="Images whose 64-bit pHashes differ in at most this many bits are near-duplicates; None: off."
    )
    text_min_jaccard: float | None = Field(
        0.8, gt=0, le=1, description="Conversations whose character 5-gram sets reach this Jaccard are near-duplicates; None: off."
    )
    text_shingle_size: int = Field(5, ge=1)
    text_min_chars: int = Field(
        40, ge=0, description="Normalised conversations shorter than this are left out of the text comparison (templates)."
    )
    drop: tuple[DedupRelation, ...] = ("exact", "image", "text")


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
    """Shares of groups that go to each split; they must add up to 1."""

    train: float = Field(0.9, ge=0, le=1)
    val: float = Field(0.05, ge=0, le=1)
    test: float = Field(0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"split ratios train={self.train}, val={self.val}, test={self.test} add up to {total}, not 1")
        return self


class CurateConfig(_Section):
    dedup: DedupConfig = DedupConfig()
    filters: FilterConfig = FilterConfig()
    token_budgets: dict[VisionModel, TokenBudget] = Field(
        default_factory=lambda: {"qwen2_5_vl": TokenBudget(), "qwen3_vl": TokenBudget()}
    )
    splits: SplitConfig = SplitConfig()
