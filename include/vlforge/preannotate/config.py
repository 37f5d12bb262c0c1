"""The recipe's ``preannotate`` section: which OCR languages and which local VLM pre-annotate images.

``vlforge.config.Recipe`` holds it, so it is read, validated and reported like every other
section; ``with_params`` applies a DAG run's Params on top.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VlmBackendName = Literal["auto", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OcrConfig(_Section):
    """Tesseract OCR: one prediction region per recognised text line."""

    enabled: bool = True
    languages: tuple[str, ...] = Field(
        ("eng", "chi_sim"), min_length=1, description="Tesseract language codes, joined with '+' for -l."
    )
    psm: int = Field(3, ge=0, le=13, description="Tesseract page segmentation mode (3: fully automatic).")
    min_word_confidence: float = Field(
        30.0, ge=0.0, le=100.0, description="Words Tesseract is less sure of (0-100) are left out of the line."
    )
    timeout_s: float = Field(120.0, gt=0)
    binary: str = Field("tesseract", description="The tesseract executable: a name on PATH or a path.")


class VlmConfig(_Section):
    """A local Qwen2-VL / Qwen2.5-VL / Qwen3-VL model that captions images and proposes boxes."""

    model_path: str | None = Field(None, description="Local model folder; None switches the VLM off (OCR only).")
    backend: VlmBackendName = Field("auto", description="Which Qwen generation's box convention to read; auto: config.json.")
    max_new_tokens: int = Field(256, ge=1, le=8192)
    caption: bool = True
    grounding: bool = True
    caption_prompt: str = "Describe this image."
    grounding_prompt: str | None = Field(None, description="None: the backend's own grounding prompt.")
    min_pixels: int | None = Field(None, gt=0, description="Override the image processor's smallest resized area.")
    max_pixels: int | None = Field(None, gt=0, description="Override the image processor's largest resized area.")
    device: str = Field("cpu", description="torch device, e.g. 'cpu' or 'cuda:0'.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


class PreannotateConfig(_Section):
    ocr: OcrConfig = OcrConfig()
    vlm: VlmConfig = VlmConfig()
    image_url_prefix: str = Field(
        "/data/local-files/?d=",
        description="Prefix of data.image; the image's path relative to images_dir follows (Label Studio local files).",
    )
    shard_size: int = Field(16, ge=1, description="Images per pre-annotation task instance.")


def with_params(config: PreannotateConfig, languages: list[str] | None, vlm_model_path: str | None) -> PreannotateConfig:
    """The section with a run's ``languages`` and ``vlm_model_path`` Params applied; None keeps the recipe's value."""
    raw = config.model_dump()
    if languages is not None:
        raw["ocr"]["languages"] = languages
    if vlm_model_path is not None:
        raw["vlm"]["model_path"] = vlm_model_path
    return PreannotateConfig.model_validate(raw)
