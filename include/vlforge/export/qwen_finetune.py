"""The Qwen2.5-VL and Qwen3-VL finetune JSON (``qwen-vl-finetune``): ``image``, ``video`` and ``conversations``.

``image`` and ``video`` are one path, or a list for several, as in the official ``demo/single_images.json``
and ``demo/video.json``; ``qwenvl/data/data_processor.py`` consumes one ``<image>`` / ``<video>``
tag of the human turns per path, in order.

Grounding answers are JSON lists of ``{"bbox_2d": [x1, y1, x2, y2], "label": ...}``
(OCR: ``"text_content"``). The two generations differ only in coordinates, as
in the official ``tools/process_bbox.ipynb``:

- Qwen3-VL (and Qwen2-VL): relative, each coordinate ``round(v / size * 1000)``;
- Qwen2.5-VL: absolute pixels on the image as the processor resizes it
  (``smart_resize`` with the recipe's factor and pixel limits), ``round(v * (new / old))``
  clamped to ``[0, new - 1]``.

GUI actions answer in the ``mobile_use`` tool-call form of the Qwen mobile-agent cookbooks
(``export/mobile_use.py``): Qwen2.5-VL points on the smart-resized screen, Qwen3-VL relative ``0..999``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vlforge.config import Recipe, SmartResizeConfig, TargetModel
from vlforge.export.json_stream import write_json_array
from vlforge.export.mobile_use import PointCoordinates, actions_answer, qwen2_5_vl_points, qwen3_vl_points
from vlforge.export.render import (
    IMAGE_PREFIX,
    VIDEO_PREFIX,
    ExportError,
    check_alternating,
    check_image_tags,
    check_video_tags,
    merge_system_prompt,
    training_turns,
    with_actions_answer,
)
from vlforge.geometry import smart_resize, xyxy_to_relative_1000, xyxy_to_resized_absolute
from vlforge.records import Box, ImageRef, OcrLine, Sample

BoxCoordinates = Callable[[Box, ImageRef], list[int]]


def qwen3_vl_coordinates(box: Box, image: ImageRef) -> list[int]:
    return list(xyxy_to_relative_1000((box.x1, box.y1, box.x2, box.y2), image.width, image.height))


def qwen2_5_vl_coordinates(resize: SmartResizeConfig) -> BoxCoordinates:
    def coordinates(box: Box, image: ImageRef) -> list[int]:
        height, width = smart_resize(image.height, image.width, resize.factor, resize.min_pixels, resize.max_pixels)
        return list(xyxy_to_resized_absolute((box.x1, box.y1, box.x2, box.y2), image.width, image.height, width, height))

    return coordinates


@dataclass(frozen=True)
class Convention:
    """How one model generation writes boxes and GUI points."""

    boxes: BoxCoordinates
    points: PointCoordinates


def model_convention(model: TargetModel, resize: SmartResizeConfig) -> Convention:
    """Qwen2-VL and Qwen3-VL: relative 0-1000 boxes and 0-999 points; Qwen2.5-VL: pixels of the smart-resized image."""
    if model == "qwen2_5_vl":
        return Convention(qwen2_5_vl_coordinates(resize), qwen2_5_vl_points(resize))
    return Convention(qwen3_vl_coordinates, qwen3_vl_points)


def answer_renderers(coordinates: BoxCoordinates) -> tuple[Callable[..., str], Callable[..., str]]:
    def boxes_answer(boxes: list[Box], images: tuple[ImageRef, ...]) -> str:
        items = [{"bbox_2d": coordinates(box, images[box.image_index]), "label": box.label} for box in boxes]
        return json.dumps(items, ensure_ascii=False)

    def ocr_answer(lines: list[OcrLine], images: tuple[ImageRef, ...]) -> str:
        items = [
            {"bbox_2d": coordinates(line.box, images[line.box.image_index]), "text_content": line.text}
            if line.box
            else {"text_content": line.text}
            for line in lines
        ]
        return json.dumps(items, ensure_ascii=False)

    return boxes_answer, ocr_answer


def with_actions(sample: Sample, points: PointCoordinates | None) -> Sample:
    """The sample with its GUI actions as ``mobile_use`` tool calls ending its conversation (if it has any)."""
    if not sample.actions:
        return sample
    if points is None:
        raise ExportError(f"sample {sample.sample_id}: has GUI actions, but no point convention was given")
    return with_actions_answer(sample, actions_answer(sample, points))


def chat_messages(sample: Sample, recipe: Recipe) -> list[dict[str, str]]:
    """``role``/``content`` messages in the Qwen3-VL conventions (boxes 0-1000, GUI points 0-999), system kept.

    Shared by the formats that carry a generic chat (Parquet, WebDataset).
    """
    boxes_answer, ocr_answer = answer_renderers(qwen3_vl_coordinates)
    turns = training_turns(with_actions(sample, qwen3_vl_points), recipe, boxes_answer, ocr_answer)
    roles = [turn.role for turn in turns]
    check_alternating(sample, roles, "user", "assistant")
    check_image_tags(sample, "".join(turn.content for turn in turns), "<image>", len(sample.images))
    check_video_tags(sample, "".join(turn.content for turn in turns))
    return [{"role": turn.role, "content": turn.content} for turn in turns]


def record(
    sample: Sample,
    recipe: Recipe,
    coordinates: BoxCoordinates,
    image_prefix: str,
    points: PointCoordinates | None = None,
    video_prefix: str = VIDEO_PREFIX,
) -> dict[str, object]:
    """One finetune record: ``id``, ``image`` and ``video`` (when the sample has them), ``conversations``."""
    boxes_answer, ocr_answer = answer_renderers(coordinates)
    sample = with_actions(sample, points)
    training = merge_system_prompt(training_turns(sample, recipe, boxes_answer, ocr_answer))
    roles = {"user": "human", "assistant": "gpt"}
    turns = [{"from": roles[turn.role], "value": turn.content} for turn in training]
    paths = [f"{image_prefix}/{image.file_name}" for image in sample.images]
    result: dict[str, object] = {"id": sample.sample_id}
    if paths:
        result["image"] = paths[0] if len(paths) == 1 else paths
    videos = [f"{video_prefix}/{video.file_name}" for video in sample.videos]
    if videos:
        result["video"] = videos[0] if len(videos) == 1 else videos
    result["conversations"] = turns
    check_alternating(sample, [turn["from"] for turn in turns], "human", "gpt")
    check_image_tags(sample, "".join(turn["value"] for turn in turns), "<image>", len(paths))
    check_video_tags(sample, "".join(turn["value"] for turn in turns))
    return result


def _export(
    samples: Iterable[Sample], path: Path, recipe: Recipe, coordinates: BoxCoordinates, points: PointCoordinates
) -> list[Path]:
    write_json_array(path, (record(sample, recipe, coordinates, IMAGE_PREFIX, points) for sample in samples))
    return [path]


def export_qwen3_vl(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    return _export(samples, folder / f"{dataset}.json", recipe, qwen3_vl_coordinates, qwen3_vl_points)


def export_qwen2_5_vl(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    resize = recipe.export.qwen2_5_vl_resize
    return _export(samples, folder / f"{dataset}.json", recipe, qwen2_5_vl_coordinates(resize), qwen2_5_vl_points(resize))
