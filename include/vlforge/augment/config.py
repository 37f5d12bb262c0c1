"""Augment settings: ops with application probabilities, copies per sample, phases, shards, paraphrasing.

These are the ``augment:`` section of a recipe. ``ops`` is an ordered list of
``{op_name: {probability: p, task_types: [...], **op_params}}`` (the registry's
names, ``vlforge.augment.ops``); ``task_types`` (optional) limits an op to samples
of those task types, e.g. ``ocr_degradation`` to OCR samples. A phase (the DAG
Param ``phase``) picks which of those ops run and how many copies each train
sample gets:

- ``warmup``: resize and crop only (``random_resized_crop``, which crops and resizes back);
- ``main``: every op in ``ops``;
- ``finetune``: no random augmentation, zero copies.

Video samples (exactly one video, no image) get their copies by frame sampling instead of image
ops (``video:``, ``VideoSamplingConfig``): a strategy (``uniform`` N frames over the whole video,
``random_offset`` N frames in a random window, ``fps`` one frame every 1/fps seconds), written as a
new clip. A phase's ``video: false`` turns it off (``finetune`` by default); its copy count is
``video.copies_per_sample``, else the phase's.

``encoding`` says, per task type, how a copy's image is written (``vlforge.augment.encoding``, ADR
0010): JPEG quality 95 for photos, PNG at compression 1 for OCR pages and GUI screens unless the
recipe says otherwise; a task type the recipe leaves out keeps its default.

Op names and op params are checked by the run's first task (``vlforge.prepare``), which builds
every op's params model, not when the recipe loads: the op registry imports albumentations (about
1.5 s), which loading a recipe must not pay. This module imports nothing from ``vlforge.config``
so that ``Recipe`` can import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlforge.augment.encoding import DEFAULT_ENCODINGS, ImageEncoding
from vlforge.records import TASK_TYPES

OnLostObject = Literal["drop_turns", "drop_sample"]
Bbox2dUnits = Literal["pixels", "relative_1000"]

# The same ops, values and types as include/recipes/default.yaml (a test holds them equal), so a
# recipe without ``augment.ops`` gets what the default recipe says: a flip half as often as not,
# never on OCR pages or GUI screens, whose text would read mirrored; small rotations and blur at
# 20%, low light 20% and JPEG re-compression 30% (the artefacts most phone photos already carry).
DEFAULT_OPS: tuple[dict[str, dict[str, Any]], ...] = (
    {"random_resized_crop": {"probability": 0.7, "scale_range": [0.6, 1.0]}},
    {"horizontal_flip": {"probability": 0.5, "task_types": ["caption", "vqa", "grounding", "video_event"]}},
    {"rotate": {"probability": 0.2, "angle_range": [-10, 10]}},
    {"color_jitter": {"probability": 0.5}},
    {"low_light": {"probability": 0.2}},
    {"gaussian_blur": {"probability": 0.2}},
    {"gaussian_noise": {"probability": 0.3}},
    {"ocr_degradation": {"probability": 0.4, "task_types": ["ocr"]}},
    {"random_erasing": {"probability": 0.6}},
    {"jpeg": {"probability": 0.3}},
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class OpSpec:
    """One entry of ``augment.ops``: the op's name, probability, task types (empty: all) and op params."""

    name: str
    probability: float
    task_types: tuple[str, ...]
    params: dict[str, Any]

    def applies_to(self, task_type: str) -> bool:
        """Whether samples of ``task_type`` may get this op."""
        return not self.task_types or task_type in self.task_types


class PhaseConfig(_Section):
    """One training phase: which ops run (``None``: every op in ``augment.ops``) and how many copies.

    ``copies_per_sample`` ``None`` takes ``augment.copies_per_sample``; ``0`` makes no copies.
    """

    ops: tuple[str, ...] | None = None
    copies_per_sample: int | None = Field(None, ge=0)
    video: bool | None = Field(None, description="Frame-sampled copies of video samples (None: augment.video.enabled).")


class VideoSamplingConfig(_Section):
    """Frame sampling of video samples (``vlforge.augment.video``): which frames make a copy's clip.

    ``strategy``: ``uniform`` takes ``n_frames`` frames spread over the whole video (first and last
    included); ``random_offset`` a window of ``window_s`` seconds at a random start, then
    ``n_frames`` uniform frames inside it; ``fps`` one frame every ``1 / fps`` seconds from the
    start, at most ``n_frames``. ``copies_per_sample`` ``None`` takes the phase's copy count.
    """

    enabled: bool = True
    strategy: Literal["uniform", "random_offset", "fps"] = "uniform"
    n_frames: int = Field(8, ge=1, description="Frames per clip (uniform, random_offset); the most frames for fps.")
    fps: float = Field(2.0, gt=0, description="Frames per second of video for strategy fps.")
    window_s: float = Field(4.0, gt=0, description="Window length in seconds for strategy random_offset.")
    copies_per_sample: int | None = Field(None, ge=0, description="Clips per video sample; None: the phase's copies.")

    def strategy_params(self) -> dict[str, Any]:
        """The strategy as recorded in lineage: ``{"strategy", "n_frames", "fps", "window_s"}`` (what it uses)."""
        params: dict[str, Any] = {"strategy": self.strategy, "n_frames": self.n_frames}
        if self.strategy == "fps":
            params["fps"] = self.fps
        if self.strategy == "random_offset":
            params["window_s"] = self.window_s
        return params


class ParaphraseConfig(_Section):
    """Paraphrasing of assistant answers (captions, answers) in augmented copies.

    A paraphrase is kept only when ``vlforge.augment.paraphrase.filter_paraphrases`` keeps it:
    BERTScore F1 against the original at least ``bertscore_threshold`` (English), or the
    lexicon rule for text the English MiniLM cannot judge (Chinese).
    """

    enabled: bool = True
    probability: float = Field(0.5, ge=0.0, le=1.0, description="Share of augmented copies whose answers are paraphrased.")
    backend: Literal["rule", "model"] = "rule"
    model_path: str | None = Field(None, description="A local seq2seq or causal model folder; needed for backend 'model'.")
    model_kind: Literal["auto", "seq2seq", "causal"] = "auto"
    substitute_rate: float = Field(0.5, ge=0.0, le=1.0)
    restructure_rate: float = Field(0.5, ge=0.0, le=1.0)
    bertscore_threshold: float = Field(0.85, ge=0.0, le=1.0)
    bertscore_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _model_needs_path(self) -> ParaphraseConfig:
        if self.backend == "model" and not self.model_path:
            raise ValueError("paraphrase.backend 'model' needs paraphrase.model_path (a local model folder)")
        return self


def _default_phases() -> dict[str, PhaseConfig]:
    return {
        "warmup": PhaseConfig(ops=("random_resized_crop",)),
        "main": PhaseConfig(),
        "finetune": PhaseConfig(copies_per_sample=0, video=False),
    }


class AugmentConfig(_Section):
    """The ``augment:`` section (see the module docstring)."""

    ops: tuple[dict[str, dict[str, Any]], ...] = DEFAULT_OPS
    copies_per_sample: int = Field(1, ge=0, description="Augmented copies of each train sample (a phase may override).")
    on_lost_object: OnLostObject = "drop_turns"
    bbox_2d_units: Bbox2dUnits = Field("pixels", description='Whether "bbox_2d" lists in the text are pixels or 0-1000.')
    phases: dict[str, PhaseConfig] = Field(default_factory=_default_phases)
    shard_size: int = Field(256, ge=1, description="Train samples per augment shard (one mapped task each).")
    paraphrase: ParaphraseConfig = ParaphraseConfig()
    video: VideoSamplingConfig = VideoSamplingConfig()
    encoding: dict[str, ImageEncoding] = Field(
        default_factory=lambda: dict(DEFAULT_ENCODINGS),
        description="Per task type, the format and quality or compression of augmented images.",
    )

    @field_validator("encoding")
    @classmethod
    def _encoding_per_task_type(cls, encoding: dict[str, ImageEncoding]) -> dict[str, ImageEncoding]:
        unknown = [name for name in encoding if name not in TASK_TYPES]
        if unknown:
            raise ValueError(f"augment.encoding: task types {unknown} unknown; allowed: {list(TASK_TYPES)}")
        return {**DEFAULT_ENCODINGS, **encoding}

    @field_validator("ops")
    @classmethod
    def _entries_well_formed(cls, ops: tuple[dict[str, dict[str, Any]], ...]) -> tuple[dict[str, dict[str, Any]], ...]:
        names = []
        for position, entry in enumerate(ops):
            spec = _spec(position, entry)
            if spec.name in names:
                raise ValueError(f"augment.ops[{position}]: op {spec.name!r} listed twice")
            names.append(spec.name)
        return ops

    @model_validator(mode="after")
    def _phases_name_listed_ops(self) -> AugmentConfig:
        listed = [spec.name for spec in self.op_specs()]
        for phase, config in self.phases.items():
            unknown = [name for name in config.ops or () if name not in listed]
            if unknown:
                raise ValueError(f"augment.phases.{phase}.ops: {unknown} are not in augment.ops; listed there: {listed}")
        return self

    def op_specs(self) -> list[OpSpec]:
        """Every entry of ``ops``, in order."""
        return [_spec(position, entry) for position, entry in enumerate(self.ops)]

    def encoding_for(self, task_type: str) -> ImageEncoding:
        """How an augmented copy of a ``task_type`` sample is written."""
        return self.encoding[task_type]

    def phase(self, name: str) -> PhaseConfig:
        """The phase ``name``; an unknown name lists the known ones."""
        if name not in self.phases:
            raise ValueError(f"unknown augment phase {name!r}; known phases: {', '.join(sorted(self.phases))}")
        return self.phases[name]

    def phase_specs(self, name: str) -> list[OpSpec]:
        """The ops that run in phase ``name``, in recipe order."""
        wanted = self.phase(name).ops
        return [spec for spec in self.op_specs() if wanted is None or spec.name in wanted]

    def copies(self, name: str) -> int:
        """Copies per train sample in phase ``name``."""
        phase = self.phase(name)
        return self.copies_per_sample if phase.copies_per_sample is None else phase.copies_per_sample

    def video_copies(self, name: str) -> int:
        """Frame-sampled copies per video sample in phase ``name``: 0 when video sampling is off in it.

        The phase's ``video`` (else ``video.enabled``) turns it on; the count is
        ``video.copies_per_sample``, else the phase's ``copies``.
        """
        enabled = self.phase(name).video
        if not (self.video.enabled if enabled is None else enabled):
            return 0
        return self.copies(name) if self.video.copies_per_sample is None else self.video.copies_per_sample


def _spec(position: int, entry: dict[str, dict[str, Any]]) -> OpSpec:
    if not isinstance(entry, dict) or len(entry) != 1:
        shown = sorted(entry) if isinstance(entry, dict) else entry
        raise ValueError(f"augment.ops[{position}]: expected one {{op_name: {{probability, ...}}}}, got {shown}")
    ((name, kwargs),) = entry.items()
    params = dict(kwargs or {})
    probability = params.pop("probability", 1.0)
    if not isinstance(probability, int | float) or not 0.0 <= float(probability) <= 1.0:
        raise ValueError(f"augment.ops[{position}] ({name}): probability {probability!r} not in [0, 1]")
    task_types = tuple(params.pop("task_types", None) or ())
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown:
        raise ValueError(f"augment.ops[{position}] ({name}): task_types {unknown} unknown; allowed: {list(TASK_TYPES)}")
    return OpSpec(name=str(name), probability=float(probability), task_types=task_types, params=params)
