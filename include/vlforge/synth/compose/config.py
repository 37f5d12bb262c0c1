"""Composition settings: the ``compose:`` section of a recipe (amounts and limits of each kind, packing)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Language = Literal["en", "zh"]
Question = Literal["count", "presence", "which", "larger"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SameImageConfig(_Section):
    """Merging samples of one image: at most ``max_samples`` composed samples, ``max_pairs`` QA pairs each."""

    enabled: bool = True
    max_samples: int = Field(1000, ge=0)
    max_pairs: int = Field(8, ge=2)


class MultiImageConfig(_Section):
    """Comparison questions over ``min_images`` to ``max_images`` pictures, ``questions_per_sample`` each."""

    enabled: bool = True
    max_samples: int = Field(1000, ge=0)
    min_images: int = Field(2, ge=2)
    max_images: int = Field(4, ge=2)
    questions: tuple[Question, ...] = ("count", "presence", "which", "larger")
    questions_per_sample: int = Field(2, ge=1)
    languages: tuple[Language, ...] = ("en", "zh")

    @model_validator(mode="after")
    def _ordered(self) -> MultiImageConfig:
        if self.min_images > self.max_images:
            raise ValueError(f"multi_image.min_images {self.min_images} is above max_images {self.max_images}")
        if not self.questions or not self.languages:
            raise ValueError("multi_image.questions and multi_image.languages must name at least one each")
        return self


class PackingConfig(_Section):
    """Same-task samples grouped into sequences of at most ``max_tokens`` (first-fit decreasing)."""

    enabled: bool = False
    max_tokens: int = Field(8192, ge=1)


class RewriteConfig(_Section):
    """LLM-assisted rewriting of composed answers by a local model (``compose.rewrite``)."""

    enabled: bool = False
    model_path: str | None = Field(None, description="A local seq2seq or causal transformers model folder.")
    model_kind: Literal["auto", "seq2seq", "causal"] = "auto"
    bertscore_threshold: float = Field(0.85, ge=0.0, le=1.0)
    bertscore_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _model_needs_path(self) -> RewriteConfig:
        if self.enabled and not self.model_path:
            raise ValueError("compose.rewrite.enabled needs compose.rewrite.model_path (a local model folder)")
        return self


class ComposeConfig(_Section):
    """The ``compose:`` section.

    ``model`` decides how visual tokens are counted (its ``smart_resize`` rule); text tokens come
    from the tokenizer at ``tokenizer_path`` when one is configured, else from a documented
    estimate (``budget.estimate_text_tokens``). A composed sample over ``max_images_per_sample`` or
    ``max_tokens`` is dropped and counted with its reason.
    """

    multi_turn: SameImageConfig = SameImageConfig()
    multi_task: SameImageConfig = SameImageConfig()
    multi_image: MultiImageConfig = MultiImageConfig()
    max_images_per_sample: int = Field(8, ge=1)
    max_tokens: int = Field(16384, ge=1)
    model: Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"] = "qwen2_5_vl"
    tokenizer_path: str | None = None
    rewrite: RewriteConfig = RewriteConfig()
    packing: PackingConfig = PackingConfig()
    shard_size: int = Field(256, ge=1, description="Samples to compose per shard (one mapped task each).")
