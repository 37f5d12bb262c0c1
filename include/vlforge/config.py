"""Recipes: YAML files that say how a release is built, loaded into validated, typed config.

A recipe is named by its file stem in ``include/recipes`` or given as a path.
Unknown keys are errors that list the keys allowed at that place.
"""

from __future__ import annotations

import hashlib
import json
import typing
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vlforge.augment.config import AugmentConfig
from vlforge.curate.config import CurateConfig
from vlforge.evaluate.config import EvaluateConfig
from vlforge.preannotate.config import PreannotateConfig
from vlforge.quality.config import MINILM, TextEncoderConfig, encoder_for
from vlforge.records import TaskType
from vlforge.synth.compose.config import ComposeConfig
from vlforge.synth.scenes.config import ScenesConfig
from vlforge.synth.config import SynthConfig

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
ExportFormat = Literal[
    "qwen_vl_chatml", "qwen2_5_vl", "qwen3_vl", "llamafactory", "ms_swift", "coco", "csv", "parquet", "webdataset"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Section):
    max_quarantine_share: float = Field(0.2, ge=0.0, le=1.0, description="Gate fails above this share of rows.")
    box_tolerance_px: float = Field(
        0.5, ge=0.0, description="Boxes this far outside the image are clipped (float rounding); further, quarantined."
    )
    download_timeout_s: float = Field(
        10.0, gt=0, description="Seconds an http(s) image URL may wait for one read, and take in all (it is dropped after)."
    )
    max_record_bytes: int = Field(
        64 * 2**20, gt=0, description="A JSON Lines line longer than this is quarantined, never held in memory."
    )
    max_document_bytes: int = Field(
        128 * 2**20, gt=0, description="A JSON file (parsed whole) larger than this is rejected unread; write JSON Lines instead."
    )


class Prompts(_Section):
    caption: str = "Describe this image."
    grounding: str = "Locate every object in the image and output its label and bounding box."
    ocr: str = "Read all the text in the image, line by line, with the position of each line."


class SmartResizeConfig(_Section):
    factor: int = 28
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 16384 * 28 * 28


TargetModel = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]


class ExportConfig(_Section):
    """``target_models``: the Qwen-VL generations to train; each gets its box convention and a ready training file
    per trainer (``vlforge.export.training_files``)."""

    formats: tuple[ExportFormat, ...] = typing.get_args(ExportFormat)
    target_models: tuple[TargetModel, ...] = Field(typing.get_args(TargetModel), min_length=1)
    qwen2_5_vl_resize: SmartResizeConfig = SmartResizeConfig()


class Thresholds(_Section):
    """Minimum agreement between annotation rounds; ``None`` switches a check off.

    ``bertscore_f1`` is ``None`` by default: each item's BERTScore is held to the thresholds
    of the encoder that scored it (``QualityConfig.text_encoders``; null there switches the check
    off for that encoder). A number here overrides them, and is then on the scale of whichever
    encoder scores the item (0 lets every item pass).
    """

    iou_agreement: float | None = Field(0.85, ge=0, le=1)
    ocr_accuracy: float | None = Field(0.95, ge=0, le=1)
    action_completeness: float | None = Field(0.90, ge=0, le=1)
    bertscore_f1: float | None = Field(None, ge=0, le=1)


class QualityConfig(_Section):
    """Thresholds for the dataset's means (the gate) and for each sample (the review loop).

    ``per_task_type`` overrides both levels for the task types it names, e.g.
    ``{ocr: {ocr_accuracy: 0.98}}``.
    """

    dataset: Thresholds = Thresholds()
    per_sample: Thresholds = Thresholds()
    per_task_type: dict[TaskType, Thresholds] = Field(default_factory=dict)
    text_encoders: tuple[TextEncoderConfig, ...] = (MINILM,)
    bertscore_batch_size: int = Field(64, ge=1)

    @field_validator("text_encoders")
    @classmethod
    def _unique_encoder_names(cls, encoders: tuple[TextEncoderConfig, ...]) -> tuple[TextEncoderConfig, ...]:
        names = [encoder.name for encoder in encoders]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"encoder names must be unique (the agreement table names them); repeated: {repeated}")
        return encoders

    def thresholds(self, level: Literal["dataset", "per_sample"], task_type: str) -> Thresholds:
        base = getattr(self, level)
        override = self.per_task_type.get(task_type)  # type: ignore[call-overload]
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_unset=True))

    def bertscore_threshold(
        self, level: Literal["dataset", "per_sample"], task_type: str, encoder_name: str | None
    ) -> float | None:
        """The BERTScore F1 threshold for items of ``task_type`` scored by ``encoder_name``.

        A ``bertscore_f1`` set under ``dataset``, ``per_sample`` or ``per_task_type`` wins;
        otherwise the encoder's own calibrated threshold; None for an item no encoder scored.
        """
        override = self.thresholds(level, task_type).bertscore_f1
        if override is not None:
            return override
        encoder = next((encoder for encoder in self.text_encoders if encoder.name == encoder_name), None)
        return None if encoder is None else getattr(encoder.bertscore_f1, level)

    def encoder_for(self, language: str | None) -> TextEncoderConfig | None:
        """The encoder that scores text of ``language``: the first that covers it."""
        return encoder_for(self.text_encoders, language)


class ReportConfig(_Section):
    samples_drawn: int = Field(6, ge=0)


class ReleaseConfig(_Section):
    """How a new release is compared with the previous one and promoted to ``current``.

    ``tolerance`` says how far a metric may fall before the release is held, by full
    metric name (``by_task_type.ocr.ocr_accuracy``), by metric name (``ocr_accuracy``)
    or under ``"*"``. ``catalog_url`` is a SQLAlchemy URL without secrets; ``None``
    takes ``$VLFORGE_CATALOG_URL``, else SQLite at ``$VLFORGE_HOME/catalog.sqlite``.
    Neither changes a release's content, so neither is part of ``Recipe.content_hash``.
    """

    tolerance: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: {"*": 0.02})
    catalog_url: str | None = None


class Recipe(_Section):
    name: str
    ingest: IngestConfig = IngestConfig()
    prompts: Prompts = Prompts()
    quality: QualityConfig = QualityConfig()
    curate: CurateConfig = CurateConfig()
    compose: ComposeConfig = ComposeConfig()
    augment: AugmentConfig = AugmentConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    preannotate: PreannotateConfig = PreannotateConfig()
    scenes: ScenesConfig = ScenesConfig()
    release: ReleaseConfig = ReleaseConfig()
    synth: SynthConfig = SynthConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    def content_hash(self) -> str:
        # Neither promotion settings nor evaluation settings change what a release holds.
        content = self.model_dump(mode="json", exclude={"release", "evaluate"})
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class RecipeError(ValueError):
    pass


def load_recipe(name_or_path: str) -> Recipe:
    """Load a recipe by name (a file stem in ``include/recipes``) or by path.

    Raises:
        RecipeError: naming the file, the key and the value that are wrong, and what is allowed.
    """
    path = recipe_path(name_or_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw.setdefault("name", path.stem)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as error:
        raise RecipeError(_describe(path, error)) from None


def recipe_path(name_or_path: str) -> Path:
    """The file of a recipe given by name (a file stem in ``include/recipes``) or by path.

    Raises:
        RecipeError: when there is no such file, listing the known recipe names.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(candidate.stem for candidate in RECIPES_DIR.glob("*.yaml"))
        raise RecipeError(f"recipe {name_or_path!r} not found at {path}; known recipes: {known}")
    return path


def _describe(path: Path, error: ValidationError) -> str:
    lines = [f"recipe {path} is invalid:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            section = _section_at(problem["loc"][:-1])
            lines.append(f"  {where}: unknown key; allowed here: {sorted(section.model_fields)}")
        else:
            lines.append(f"  {where} = {problem.get('input')!r}: {problem['msg']}")
    return "\n".join(lines)


def _section_at(location: tuple[int | str, ...]) -> type[BaseModel]:
    """The section model at ``location``, looking through ``dict[key, Section]`` fields to their values' model."""
    model: type[BaseModel] = Recipe
    parts = list(location)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        annotation = field.annotation if field else None
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
            if parts:
                parts.pop(0)  # the dict's key, e.g. a task type
        if not isinstance(annotation, type) or not issubclass(annotation, BaseModel):
            break
        model = annotation
    return model
