"""The canonical sample: one annotated unit of multimodal training data.

Every ingest adapter produces these records, every later stage (quality,
augment, synthesize, curate, export) reads and writes them, and the Parquet
manifest stores them. Boxes are absolute pixel ``x1, y1, x2, y2`` floats on the
image as displayed (EXIF orientation applied).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskType = Literal["caption", "vqa", "grounding", "ocr", "gui_action", "video_event"]
TASK_TYPES: tuple[str, ...] = ("caption", "vqa", "grounding", "ocr", "gui_action", "video_event")
GuiActionType = Literal["click", "long_press", "type", "swipe", "scroll", "key", "open", "wait", "terminate"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageRef(_Record):
    """An image in the content-addressed store."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: str = Field(description="File extension in the store, e.g. 'jpg' or 'png'.")

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.{self.format}"


class VideoRef(_Record):
    """A video in the content-addressed store (the same store as images, ``<sha256>.<ext>``).

    ``frames`` and ``fps`` are what the container declares (OpenCV's ``CAP_PROP_FRAME_COUNT`` and
    ``CAP_PROP_FPS``); ``duration_s`` is ``frames / fps``: frame ``i`` is shown during
    ``[i / fps, (i + 1) / fps)``.
    """

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: str = Field(description="File extension in the store, e.g. 'mp4' or 'avi'.")
    duration_s: float = Field(gt=0)
    fps: float = Field(gt=0)
    frames: int = Field(gt=0)

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.{self.format}"


class Box(_Record):
    """An axis-aligned box in absolute pixels of the displayed image."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str = ""
    image_index: int = 0


class OcrLine(_Record):
    text: str
    box: Box | None = None
    language: str = "en"


class GuiAction(_Record):
    type: str
    box: Box | None = None
    point: tuple[float, float] | None = None
    text: str = ""


class VideoEvent(_Record):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    description: str


class Turn(_Record):
    """One conversation message; ``<image>`` marks where an image goes, ``<video>`` where a video goes."""

    role: Literal["system", "user", "assistant"]
    content: str


class Source(_Record):
    """Where a sample came from: the file (relative to the source root) and the record in it."""

    file: str
    record_id: str


class LineageOp(_Record):
    """One applied operation with the parameters it drew, so that it can be replayed."""

    op: str
    params_json: str = "{}"
    seed: int | None = None


class Metrics(_Record):
    """Agreement between annotation rounds of the same item, measured by the quality stage.

    ``None`` means not measured: a single round, or nothing of that kind to compare.
    """

    iou_agreement: float | None = None
    ocr_accuracy: float | None = None
    action_completeness: float | None = None
    bertscore_precision: float | None = None
    bertscore_recall: float | None = None
    bertscore_f1: float | None = None
    rounds_compared: int = 0


class Sample(_Record):
    """One training sample with its annotations from one annotation round.

    ``item_id`` is shared by every round of the same annotated item (a Label
    Studio task), so rounds can be compared; ``gold`` marks an adjudicated round.
    """

    sample_id: str
    task_type: TaskType
    images: tuple[ImageRef, ...] = ()
    videos: tuple[VideoRef, ...] = ()
    conversations: tuple[Turn, ...] = ()
    boxes: tuple[Box, ...] = ()
    ocr_lines: tuple[OcrLine, ...] = ()
    actions: tuple[GuiAction, ...] = ()
    video_events: tuple[VideoEvent, ...] = ()
    choices: tuple[str, ...] = ()
    annotator: str = ""
    round: int = 1
    item_id: str = ""
    gold: bool = False
    metrics: Metrics = Metrics()
    source: Source
    lineage: tuple[LineageOp, ...] = ()
    synthetic: bool = False


def make_item_id(source_file: str, item: object) -> str:
    """A stable id for an annotated item, shared by its rounds and by re-exports of it."""
    return hashlib.sha256(json.dumps([source_file, str(item)]).encode()).hexdigest()[:16]


def make_sample_id(source: Source, round_: int) -> str:
    """A stable id from where the record came from, so reruns give the same ids.

    Args:
        source: the file and record id.
        round_: the annotation round.

    Returns:
        16 hex characters.
    """
    key = json.dumps([source.file, source.record_id, round_])
    return hashlib.sha256(key.encode()).hexdigest()[:16]
