"""The ``synth:`` section of a recipe: how many documents, PDF pages and screens a run synthesises, and how.

Every field has a default, so a recipe without ``synth:`` synthesises nothing (all counts 0).
Unknown keys are refused with the list of allowed ones, as in the rest of the recipe.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The generators' names (``documents/fill.py`` and ``gui/fill.py`` register exactly these).
LANGUAGES = ("en", "zh")
DOCUMENT_TEMPLATES = ("receipt", "invoice", "form", "table", "article", "sign")
GUI_TEMPLATES = ("login", "settings", "search", "list", "dialog", "shopping", "chat", "map")
THEMES = ("light", "dark")

Split = Literal["train", "val", "test"]
Device = Literal["phone", "desktop"]

# Strong enough that Tesseract's accuracy falls well below the clean page's, in recipe order. Ranges are
# lists, as YAML and the frozen recipe.json give them back, so a frozen recipe equals the one it froze.
DEFAULT_DEGRADATIONS: tuple[dict[str, dict[str, Any]], ...] = (
    {"perspective": {"probability": 0.5, "scale_range": [0.02, 0.05]}},
    {"warp": {"probability": 0.5}},
    {"paper_texture": {"probability": 0.7}},
    {"shadow": {"probability": 0.5}},
    {"watermark": {"probability": 0.4}},
    {"gaussian_blur": {"probability": 0.5, "sigma_range": [0.8, 2.0]}},
    {"resample": {"probability": 0.5}},
    {"low_light": {"probability": 0.3}},
    {"gaussian_noise": {"probability": 0.4}},
    {"jpeg": {"probability": 0.6, "quality_range": [15, 60]}},
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DegradeConfig(_Section):
    """Degraded copies of clean pages: ops with probabilities and the bounds of their difficulty.

    ``ops`` is an ordered list of ``{op_name: {probability: p, **op_params}}`` (augment op names).
    A copy's difficulty is Tesseract's accuracy on it; a copy outside ``accuracy_range`` is drawn
    again (new params, same page) up to ``max_attempts`` times, then left out and counted.
    """

    copies_per_page: int = Field(0, ge=0)
    ops: tuple[dict[str, dict[str, Any]], ...] = DEFAULT_DEGRADATIONS
    accuracy_range: tuple[float, float] = (0.2, 0.95)
    max_attempts: int = Field(3, ge=1)

    @field_validator("ops")
    @classmethod
    def _one_op_per_entry(cls, ops: tuple[dict[str, dict[str, Any]], ...]) -> tuple[dict[str, dict[str, Any]], ...]:
        for index, entry in enumerate(ops):
            if len(entry) != 1:
                raise ValueError(f"ops[{index}] = {entry}: each entry is one {{op_name: {{probability, ...}}}}")
            (params,) = entry.values()
            probability = params.get("probability", 1.0)
            if not 0.0 <= float(probability) <= 1.0:
                raise ValueError(f"ops[{index}].probability = {probability}: must lie in [0, 1]")
        return ops

    @model_validator(mode="after")
    def _range(self) -> DegradeConfig:
        low, high = self.accuracy_range
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"accuracy_range = {self.accuracy_range}: need 0 <= low <= high <= 1")
        return self


class DocumentsConfig(_Section):
    count: int = Field(0, ge=0, description="Clean pages to render (each also gets its degraded copies).")
    templates: tuple[str, ...] = DOCUMENT_TEMPLATES
    languages: tuple[str, ...] = LANGUAGES
    min_readback_accuracy: float = Field(0.95, ge=0.0, le=1.0)
    degrade: DegradeConfig = DegradeConfig()

    @field_validator("templates")
    @classmethod
    def _templates(cls, templates: tuple[str, ...]) -> tuple[str, ...]:
        return _known("templates", templates, DOCUMENT_TEMPLATES)

    @field_validator("languages")
    @classmethod
    def _languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        return _known("languages", languages, LANGUAGES)


class PdfConfig(_Section):
    """The team's own PDFs, rasterised with pdftoppm, words from ``pdftotext -bbox-layout``."""

    paths: tuple[str, ...] = ()
    dpi: int = Field(150, ge=36, le=600)
    max_pages: int = Field(20, ge=1)


class GuiConfig(_Section):
    screens: int = Field(0, ge=0)
    templates: tuple[str, ...] = GUI_TEMPLATES
    devices: tuple[Device, ...] = ("phone", "desktop")
    languages: tuple[str, ...] = LANGUAGES
    themes: tuple[str, ...] = THEMES
    grounding_per_screen: int = Field(2, ge=0)
    actions_per_screen: int = Field(2, ge=0)
    trajectories: bool = True

    @field_validator("templates")
    @classmethod
    def _templates(cls, templates: tuple[str, ...]) -> tuple[str, ...]:
        return _known("templates", templates, GUI_TEMPLATES)

    @field_validator("languages")
    @classmethod
    def _languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        return _known("languages", languages, LANGUAGES)

    @field_validator("themes")
    @classmethod
    def _themes(cls, themes: tuple[str, ...]) -> tuple[str, ...]:
        return _known("themes", themes, THEMES)


class SynthConfig(_Section):
    """``synth:``: documents, PDFs and GUI screens, the shard size, the split synthetic samples go to.

    ``vocabulary`` gives, per language, the item names receipts, invoices and shop screens draw
    from (names, addresses, dates and prices come from Faker's ``en_US`` / ``zh_CN`` providers).
    """

    documents: DocumentsConfig = DocumentsConfig()
    pdfs: PdfConfig = PdfConfig()
    gui: GuiConfig = GuiConfig()
    shard_size: int = Field(8, ge=1, description="Pages or screens per mapped shard (one Chromium each).")
    split: Split = "train"
    vocabulary: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("vocabulary")
    @classmethod
    def _vocabulary(cls, vocabulary: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        _known("vocabulary", tuple(vocabulary) or LANGUAGES, LANGUAGES)
        for language, items in vocabulary.items():
            if len(items) < 6:
                raise ValueError(f"vocabulary.{language}: {len(items)} items; give at least 6 (a receipt draws up to 6 distinct ones)")
        return vocabulary


def _known(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(f"{name}: unknown {unknown}; allowed: {list(allowed)}")
    if not values:
        raise ValueError(f"{name}: must not be empty; allowed: {list(allowed)}")
    return values
