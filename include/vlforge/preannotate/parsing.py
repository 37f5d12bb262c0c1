"""Boxes and OCR lines out of Qwen-VL answers, in absolute pixels of the original image.

The three generations answer a grounding prompt in three ways:

- Qwen-VL and Qwen2-VL tag a box inline: ``<ref>the cat</ref><box>(120,56),(560,880)</box>``
  (Qwen2-VL spells the tags ``<|object_ref_start|>``, ``<|object_ref_end|>``, ``<|box_start|>``,
  ``<|box_end|>``); the numbers are relative, ``0..1000`` of the image's width and height.
- Qwen2.5-VL writes a JSON list, often in a ```` ```json ```` fence,
  ``[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]``, in absolute pixels of the image the
  processor resized it to (``vlforge.geometry.smart_resize``).
- Qwen3-VL writes the same JSON, relative ``0..1000`` like Qwen2-VL.

Pre-annotation reads boxes and captions with these; model evaluation (``vlforge.evaluate.model``)
reads boxes, OCR lines and captions of the answers to a release's test prompts. Every function here is pure. A malformed answer never raises: it yields the boxes that could be
read (possibly none) and logs why the rest were left out.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any, Literal

from vlforge.geometry import XYXY, relative_1000_to_xyxy, resized_absolute_to_xyxy
from vlforge.records import Box, OcrLine

logger = logging.getLogger(__name__)

JsonConvention = Literal["relative_1000", "resized_absolute"]

_TAG = re.compile(
    r"(?:<ref>|<\|object_ref_start\|>)(?P<ref>.*?)(?:</ref>|<\|object_ref_end\|>)"
    r"|(?:<box>|<\|box_start\|>)(?P<box>.*?)(?:</box>|<\|box_end\|>)",
    re.DOTALL,
)
_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_TAG_BOX = re.compile(rf"^\s*\({_NUMBER},{_NUMBER}\)\s*,\s*\({_NUMBER},{_NUMBER}\)\s*$")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|$)", re.DOTALL)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


def parse_grounding(
    answer: str,
    image_w: int,
    image_h: int,
    json_convention: JsonConvention = "relative_1000",
    resized_size: tuple[int, int] | None = None,
) -> list[Box]:
    """Read every box a Qwen-VL answer names, in absolute pixels of the original image.

    Args:
        answer: the model's decoded answer, special tokens kept.
        image_w, image_h: the original (EXIF-oriented) image's size.
        json_convention: how to read JSON ``bbox_2d``: ``relative_1000`` (Qwen2-VL, Qwen3-VL) or
            ``resized_absolute`` (Qwen2.5-VL). Inline ``<box>`` tags are always relative ``0..1000``.
        resized_size: ``(width, height)`` of the image the model saw; needed for ``resized_absolute``.

    Returns:
        The boxes, clipped to the image, with the label the answer gave (``""`` when none). Empty
        when the answer holds no readable box; the reason is logged.
    """
    if _TAG.search(answer):
        return _parse_tagged(answer, image_w, image_h)
    items = _json_items(answer)
    if items is None:
        logger.warning("grounding answer has neither <box> tags nor JSON boxes: %s", _shorten(answer))
        return []
    if json_convention == "resized_absolute" and resized_size is None:
        logger.warning("bbox_2d in resized pixels cannot be converted without the resized image size")
        return []
    boxes = []
    for index, item in enumerate(items):
        coordinates = _bbox_2d(item)
        if coordinates is None:
            logger.warning("grounding item %d has no bbox_2d of four numbers: %s", index, _shorten(json.dumps(item, ensure_ascii=False)))
            continue
        label = item.get("label", "") if isinstance(item, dict) else ""
        box = _json_box(coordinates, image_w, image_h, json_convention, resized_size, str(label).strip(), f"item {index}")
        if box is not None:
            boxes.append(box)
    return boxes


def parse_ocr_lines(
    answer: str,
    image_w: int,
    image_h: int,
    json_convention: JsonConvention = "relative_1000",
    resized_size: tuple[int, int] | None = None,
) -> list[OcrLine]:
    """Read the text lines of an OCR answer, each with its box (absolute pixels) where the answer gives one.

    The answer forms are those of ``vlforge.export``: Qwen-VL ``<ref>line</ref><box>...</box>`` (lines
    without a position as plain text lines), or a JSON list of ``{"bbox_2d": [...], "text_content": ...}``
    (``bbox_2d`` optional). Any other answer is read as plain text, one line per non-empty line.

    Args:
        answer: the model's decoded answer.
        image_w, image_h: the original image's size.
        json_convention, resized_size: as for ``parse_grounding``.

    Returns:
        The lines in answer order; a box that cannot be read leaves its line without a box.
    """
    if _TAG.search(answer):
        lines = [OcrLine(text=box.label, box=box) for box in _parse_tagged(answer, image_w, image_h) if box.label]
        rest = _SPECIAL.sub("", _TAG.sub("\n", answer))
        return lines + [OcrLine(text=line.strip()) for line in rest.splitlines() if line.strip()]
    items = _json_items(answer) if ("[" in answer or "{" in answer) else None
    if items is None or not any(isinstance(item, dict) and "text_content" in item for item in items):
        return [OcrLine(text=line.strip()) for line in clean_caption(answer).splitlines() if line.strip()]
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text_content"), str):
            logger.warning("OCR item %d has no text_content: %s", index, _shorten(json.dumps(item, ensure_ascii=False)))
            continue
        coordinates = _bbox_2d(item)
        box = None
        if coordinates is not None:
            box = _json_box(coordinates, image_w, image_h, json_convention, resized_size, "", f"OCR item {index}")
        lines.append(OcrLine(text=item["text_content"], box=box))
    return lines


def _json_box(
    coordinates: XYXY,
    image_w: int,
    image_h: int,
    json_convention: JsonConvention,
    resized_size: tuple[int, int] | None,
    label: str,
    what: str,
) -> Box | None:
    if json_convention == "resized_absolute":
        if resized_size is None:
            logger.warning("%s: bbox_2d in resized pixels cannot be converted without the resized image size", what)
            return None
        xyxy = resized_absolute_to_xyxy(coordinates, image_w, image_h, resized_size[0], resized_size[1])
    else:
        xyxy = relative_1000_to_xyxy(coordinates, image_w, image_h)
    return _clipped(xyxy, image_w, image_h, label, what)


def clean_caption(answer: str) -> str:
    """The caption text of an answer: special tokens such as ``<|im_end|>`` removed, whitespace trimmed."""
    return _SPECIAL.sub("", answer).strip()


def _parse_tagged(answer: str, image_w: int, image_h: int) -> list[Box]:
    boxes = []
    label = ""
    for match in _TAG.finditer(answer):
        if match.group("ref") is not None:
            label = match.group("ref").strip()
            continue
        numbers = _TAG_BOX.match(match.group("box"))
        if numbers is None:
            logger.warning("<box> is not (x1,y1),(x2,y2): %s", _shorten(match.group(0)))
            continue
        coordinates = tuple(float(value) for value in numbers.groups())
        box = _clipped(relative_1000_to_xyxy(coordinates, image_w, image_h), image_w, image_h, label, match.group(0))  # type: ignore[arg-type]
        if box is not None:
            boxes.append(box)
    return boxes


def _json_items(answer: str) -> list[Any] | None:
    """The list of items in a JSON answer; complete objects of a cut-off answer; None when there is no JSON."""
    fenced = _FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    start = min((position for position in (text.find("["), text.find("{")) if position >= 0), default=-1)
    if start < 0:
        return None
    text = text[start:].strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        objects = []
        for candidate in _JSON_OBJECT.findall(text):
            try:
                objects.append(json.loads(candidate))
            except json.JSONDecodeError:
                continue
        if not objects:
            logger.warning("grounding answer is not valid JSON (%s): %s", error, _shorten(answer))
            return None
        logger.warning("grounding answer is not valid JSON (%s); kept its %d complete objects", error, len(objects))
        return objects
    return parsed if isinstance(parsed, list) else [parsed]


def _bbox_2d(item: Any) -> XYXY | None:
    if not isinstance(item, dict):
        return None
    values = item.get("bbox_2d", item.get("bbox"))
    if not isinstance(values, list) or len(values) != 4:
        return None
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) for value in values):
        return None
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def _clipped(xyxy: XYXY, image_w: int, image_h: int, label: str, what: str) -> Box | None:
    x1, y1, x2, y2 = (
        min(max(xyxy[0], 0.0), float(image_w)),
        min(max(xyxy[1], 0.0), float(image_h)),
        min(max(xyxy[2], 0.0), float(image_w)),
        min(max(xyxy[3], 0.0), float(image_h)),
    )
    if x1 >= x2 or y1 >= y2:
        logger.warning("box %s is empty or inverted inside the %dx%d image: %s", what, image_w, image_h, list(xyxy))
        return None
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, label=label)


def _shorten(text: str, limit: int = 200) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
