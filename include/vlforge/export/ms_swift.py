"""ms-swift's standard dataset format: JSON Lines of ``messages`` + ``images``, boxes as grounding ``objects``.

As in ms-swift's ``docs/source_en/Customization/Custom-dataset.md`` ("Use SWIFT's grounding data
format"), a box is written in the text as ``<ref-object><bbox>`` and its values go to ``objects``::

    {"messages": [...], "images": [...],
     "objects": {"ref": ["bowl of carrots"], "bbox": [[146.0, 137.0, 615.0, 415.0]], "bbox_type": "real"}}

ms-swift replaces the placeholders in order of appearance with each model template's own
syntax and box normalisation, so one file serves every Qwen generation.

``bbox_type`` is ``real`` (absolute pixels of the image) rather than ``norm1``: vlforge's boxes
are already absolute pixels, so they are written without any rounding, and ms-swift converts real
boxes for each template from the image it loads (0-1000 for Qwen2-VL/Qwen3-VL, pixels of the
smart-resized image for Qwen2.5-VL). ``image_id`` (which image a box is measured on, for samples
with several images) is only honoured with ``real``; it is written for multi-image samples.

OCR lines with a box become ``<ref-object><bbox>`` with the line's text as the ref; lines without
a box stay plain text. GUI actions are ``mobile_use`` tool calls in the assistant's text with
Qwen3-VL points (relative 0-999), as in the LLaMA-Factory export: ms-swift's ``<bbox>`` would be
replaced by each template's box tokens, which are not valid inside the tool call's JSON.
Videos go to ``videos`` with one ``<video>`` tag each, as that document's multimodal examples write them.
Image and video paths are relative to this folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.mobile_use import qwen3_vl_points
from vlforge.export.qwen_finetune import with_actions
from vlforge.export.render import (
    IMAGE_PREFIX,
    VIDEO_PREFIX,
    ExportError,
    check_messages,
    training_turns,
)
from vlforge.records import Box, ImageRef, OcrLine, Sample
from vlforge.store import atomic_write_text

REF = "<ref-object>"
BBOX = "<bbox>"
BBOX_TYPE = "real"


class _Objects:
    """Collects refs and boxes in the order their placeholders are written."""

    def __init__(self) -> None:
        self.ref: list[str] = []
        self.bbox: list[list[float]] = []
        self.image_id: list[int] = []

    def add(self, ref: str, box: Box) -> str:
        self.ref.append(ref)
        self.bbox.append([float(box.x1), float(box.y1), float(box.x2), float(box.y2)])
        self.image_id.append(box.image_index)
        return REF + BBOX

    def boxes_answer(self, boxes: list[Box], images: tuple[ImageRef, ...]) -> str:
        return "\n".join(self.add(box.label, box) for box in boxes)

    def ocr_answer(self, lines: list[OcrLine], images: tuple[ImageRef, ...]) -> str:
        return "\n".join(self.add(line.text, line.box) if line.box else line.text for line in lines)


def record(sample: Sample, recipe: Recipe, image_prefix: str, video_prefix: str = VIDEO_PREFIX) -> dict[str, object]:
    """One ms-swift record.

    Args:
        sample: the sample.
        recipe: prompts for the grounding and OCR turns.
        image_prefix: the images' folder relative to this export's folder.
        video_prefix: the videos' folder relative to this export's folder.

    Returns:
        ``{"messages", "images"}``, ``"videos"`` when the sample has videos and ``"objects"`` when it has boxes.
    """
    objects = _Objects()
    sample = with_actions(sample, qwen3_vl_points)
    turns = training_turns(sample, recipe, objects.boxes_answer, objects.ocr_answer)
    result: dict[str, object] = {
        "messages": [{"role": turn.role, "content": turn.content} for turn in turns],
        "images": [f"{image_prefix}/{image.file_name}" for image in sample.images],
    }
    if sample.videos:
        result["videos"] = [f"{video_prefix}/{video.file_name}" for video in sample.videos]
    if objects.bbox:
        found: dict[str, object] = {"ref": objects.ref, "bbox": objects.bbox, "bbox_type": BBOX_TYPE}
        if len(sample.images) > 1:
            found["image_id"] = objects.image_id
        result["objects"] = found
    validate(sample, result)
    return result


def validate(sample: Sample, result: dict[str, object]) -> None:
    """ms-swift's rules: optional system, then user/assistant pairs; one ``<image>`` per image;
    one ``<ref-object>`` per ref and one ``<bbox>`` per box (they are replaced in order)."""
    messages = result["messages"]
    check_messages(sample, messages)
    text = "".join(message["content"] for message in messages)  # type: ignore[attr-defined]
    objects = result.get("objects", {"ref": [], "bbox": []})
    assert isinstance(objects, dict)
    for tag, key in ((REF, "ref"), (BBOX, "bbox")):
        if text.count(tag) != len(objects[key]):
            raise ExportError(
                f"sample {sample.sample_id}: {text.count(tag)} {tag} placeholders for {len(objects[key])} objects.{key}"
            )


def export(samples: list[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    path = folder / f"{dataset}.jsonl"
    lines = [json.dumps(record(sample, recipe, IMAGE_PREFIX), ensure_ascii=False) for sample in samples]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return [path]
