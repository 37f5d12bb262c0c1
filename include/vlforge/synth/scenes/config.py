"""Generated scenes: the ``scenes:`` section of a recipe (prompts, rendering, screening, release rule)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenesConfig(_Section):
    """Text-to-image scenes for rare conditions, labelled by the pre-annotation VLM and reviewed by people.

    ``model_path`` is a local diffusers Stable Diffusion folder (``model_index.json`` at its root);
    ``clip_model_path`` a local transformers CLIP folder. Captions and boxes come from the recipe's
    ``preannotate.vlm`` model. A scene whose CLIP image-text cosine similarity with its prompt is
    below ``clip_threshold`` is dropped and counted. ``allow_unreviewed`` is read when a Label
    Studio export is ingested: by default a scene is released only once a reviewer marked an
    annotation of it ground truth.
    """

    prompts: tuple[str, ...] = Field((), description="One scene description per entry, e.g. 'pedestrians on a rainy street at night'.")
    images_per_prompt: int = Field(4, ge=1, le=1000)
    width: int = Field(512, ge=8, multiple_of=8, description="Pixels; Stable Diffusion needs multiples of 8.")
    height: int = Field(512, ge=8, multiple_of=8)
    steps: int = Field(30, ge=1, le=1000, description="Denoising steps.")
    guidance_scale: float = Field(7.5, ge=0.0, description="Classifier-free guidance; 1 or below switches it off.")
    negative_prompt: str | None = None
    model_path: str | None = Field(None, description="Local diffusers Stable Diffusion folder (model_index.json).")
    clip_model_path: str | None = Field(None, description="Local transformers CLIP folder (CLIPModel + CLIPProcessor).")
    clip_threshold: float = Field(
        0.2, ge=-1.0, le=1.0, description="Least cosine similarity between the image's and the prompt's CLIP embeddings."
    )
    allow_unreviewed: bool = Field(False, description="Release synthetic scenes that no reviewer accepted.")
    prompts_per_shard: int = Field(1, ge=1, description="Prompts rendered by one mapped task instance.")
    device: str = Field("cpu", description="torch device of the diffusers and CLIP models, e.g. 'cpu' or 'cuda:0'.")
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"

    @field_validator("prompts")
    @classmethod
    def _distinct_prompts(cls, prompts: tuple[str, ...]) -> tuple[str, ...]:
        blank = [index for index, prompt in enumerate(prompts) if not prompt.strip()]
        if blank:
            raise ValueError(f"prompts at positions {blank} are empty")
        repeated = sorted({prompt for prompt in prompts if prompts.count(prompt) > 1})
        if repeated:
            raise ValueError(f"each prompt may appear once (images_per_prompt sets how many images); repeated: {repeated}")
        return prompts
