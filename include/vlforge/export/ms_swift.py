"""ms-swift's standard dataset format: JSON Lines of ``messages`` + ``images``, boxes as grounding ``objects``.

As in ms-swift's ``docs/source_en/Customization/Custom-dataset.md`` ("Use SWIFT's grounding data
format"), a box is written in the text as ``<ref-object><bbox>`` and its values go to ``objects``::

    {"messages": [...], "images": [...],
     "objects": {"ref": ["bowl of carrots"], "bbox": [[146.0, 137.0, 615.0, 415.0]], "bbox_type": "real"}}

ms-swift replaces the placeholders in order of appearance with each model template's own
syntax and box normalisation. Under its default ``QWENVL_BBOX_FORMAT=legacy`` the result is
Qwen2-VL's ``<|object_ref_start|>cup<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``,
which is what ``<dataset>_<split>.jsonl`` is written for (Qwen2-VL). Qwen2.5-VL and Qwen3-VL answer
grounding in JSON; with ``QWENVL_BBOX_FORMAT=new`` ms-swift writes a bare ``[x1, y1, x2, y2]`` for
``<bbox>``, so ``<dataset>_<split>_qwen2_5_vl.jsonl`` and ``..._qwen3_vl.jsonl`` (one per target model)
hold the answers of the Qwen finetune exports with ``<bbox>`` for each box's list::

    [{"bbox_2d": <bbox>, "label": "cup"}]

and ms-swift turns it into that model's numbers (pixels of the resized image for Qwen2.5-VL,
0-1000 for Qwen3-VL). Labels and OCR text stay literal JSON strings there (no ``<ref-object>``),
so quotes in them stay valid JSON. ``exports/ms_swift/train_<model>.sh`` sets the variable.

``bbox_type`` is ``real`` (absolute pixels of the image) rather than ``norm1``: vlforge's boxes
are already absolute pixels, so they are written without any rounding, and ms-swift converts real
boxes for each template from the image it loads (0-1000 for Qwen2-VL/Qwen3-VL, pixels of the
smart-resized image for Qwen2.5-VL). ``image_id`` (which image a box is measured on, for samples
with several images) is only honoured with ``real``; it is written for multi-image samples.

OCR lines with a box become ``<ref-object><bbox>`` with the line's text as the ref; lines without
a box stay plain text. GUI actions are ``mobile_use`` tool calls in the assistant's text with
Qwen3-VL points (relative 0-999) in the plain and Qwen3-VL files, Qwen2.5-VL points (pixels of the
smart-resized screen) in the Qwen2.5-VL file: written out, because ms-swift's ``<bbox>`` would be
replaced by legacy box tokens, and under ``new`` by 0-1000 points where Qwen3-VL's GUI agent uses 0-999.
Videos go to ``videos`` with one ``<video>`` tag each, as that document's multimodal examples write them.
Image and video paths are relative to this folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

from vlforge.config import Recipe, TargetModel
from vlforge.export.mobile_use import PointCoordinates, qwen3_vl_points
from vlforge.export.qwen_finetune import model_convention, with_actions
from vlforge.export.render import (
    IMAGE_PREFIX,
    VIDEO_PREFIX,
    ExportError,
    check_messages,
    training_turns,
)
from vlforge.records import Box, ImageRef, OcrLine, Sample
from vlforge.store import atomic_open

REF = "<ref-object>"
BBOX = "<bbox>"
BBOX_TYPE = "real"
BboxFormat = Literal["legacy", "new"]
# ms-swift's QWENVL_BBOX_FORMAT for each target model's file.
BBOX_FORMATS: dict[str, BboxFormat] = {"qwen2_vl": "legacy", "qwen2_5_vl": "new", "qwen3_vl": "new"}


def dataset_file(name: str, model: TargetModel) -> str:
    """The file of a split for ``model``: ``<name>.jsonl`` for Qwen2-VL, ``<name>_<model>.jsonl`` for the others."""
    return f"{name}.jsonl" if model == "qwen2_vl" else f"{name}_{model}.jsonl"


class _Objects:
    """Collects refs and boxes in the order their placeholders are written, in one ``QWENVL_BBOX_FORMAT``."""

    def __init__(self, bbox_format: BboxFormat) -> None:
        self.bbox_format = bbox_format
        self.ref: list[str] = []
        self.bbox: list[list[float]] = []
        self.image_id: list[int] = []

    def _add_box(self, box: Box) -> None:
        self.bbox.append([float(box.x1), float(box.y1), float(box.x2), float(box.y2)])
        self.image_id.append(box.image_index)

    def add(self, ref: str, box: Box) -> str:
        self.ref.append(ref)
        self._add_box(box)
        return REF + BBOX

    def _json_answer(self, items: list[tuple[Box | None, str, str]]) -> str:
        """``[{"bbox_2d": <bbox>, key: text}, ...]``: the placeholder stands where ms-swift writes the list."""
        written = []
        for box, key, text in items:
            if box is None:
                written.append({key: text})
            else:
                self._add_box(box)
                written.append({"bbox_2d": BBOX, key: text})
        return json.dumps(written, ensure_ascii=False).replace(json.dumps(BBOX), BBOX)

    def boxes_answer(self, boxes: list[Box], images: tuple[ImageRef, ...]) -> str:
        if self.bbox_format == "new":
            return self._json_answer([(box, "label", box.label) for box in boxes])
        return "\n".join(self.add(box.label, box) for box in boxes)

    def ocr_answer(self, lines: list[OcrLine], images: tuple[ImageRef, ...]) -> str:
        if self.bbox_format == "new":
            return self._json_answer([(line.box, "text_content", line.text) for line in lines])
        return "\n".join(self.add(line.text, line.box) if line.box else line.text for line in lines)


def record(
    sample: Sample,
    recipe: Recipe,
    image_prefix: str,
    video_prefix: str = VIDEO_PREFIX,
    bbox_format: BboxFormat = "legacy",
    points: PointCoordinates = qwen3_vl_points,
) -> dict[str, object]:
    """One ms-swift record.

    Args:
        sample: the sample.
        recipe: prompts for the grounding and OCR turns.
        image_prefix: the images' folder relative to this export's folder.
        video_prefix: the videos' folder relative to this export's folder.
        bbox_format: the ``QWENVL_BBOX_FORMAT`` the file is trained with.
        points: the GUI point convention of the target model.

    Returns:
        ``{"messages", "images"}``, ``"videos"`` when the sample has videos and ``"objects"`` when it has boxes.
    """
    objects = _Objects(bbox_format)
    sample = with_actions(sample, points)
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


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """``<dataset>.jsonl`` (Qwen2-VL, legacy boxes) and one ``<dataset>_<model>.jsonl`` per other target model.

    Every model's file is open at once and gets each sample's line as the sample comes, in one pass.
    """
    models: list[TargetModel] = ["qwen2_vl", *(model for model in recipe.export.target_models if model != "qwen2_vl")]
    points = {model: model_convention(model, recipe.export.qwen2_5_vl_resize).points for model in models}
    paths = [folder / dataset_file(dataset, model) for model in models]
    with ExitStack() as files:
        handles = [files.enter_context(atomic_open(path)) for path in paths]
        for sample in samples:
            for model, handle in zip(models, handles, strict=True):
                item = record(sample, recipe, IMAGE_PREFIX, bbox_format=BBOX_FORMATS[model], points=points[model])
                handle.write((json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8"))
    return paths
