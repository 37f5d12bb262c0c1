"""A model's answer read in its generation's convention: boxes, OCR lines, GUI actions, event times, text.

The conventions are the exports' (``vlforge.export``), read back:

- boxes and OCR lines: ``vlforge.preannotate.parsing`` (Qwen-VL ``<box>`` tags in 0-1000; Qwen2.5-VL JSON
  ``bbox_2d`` in pixels of the resized image; Qwen3-VL JSON ``bbox_2d`` in 0-1000);
- GUI actions: Qwen-VL one action per line (``click <ref>t</ref><box>(x1,y1),(x2,y2)</box>``, ``type "text"``),
  the target being the box's centre, lines not starting with an action type left out; Qwen2.5-VL and Qwen3-VL ``mobile_use`` tool calls
  (``export.mobile_use``), ``coordinate`` in pixels of the resized screen or in 0-999;
- video events: every ``<start> to <end>`` span in seconds the text names (``1.0s to 3.0s``,
  ``between 1 and 3 seconds``, ``1.0-3.0s``).

Nothing here raises on a malformed answer: what cannot be read is left out, so it scores as missing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from vlforge.evaluate.model.config import Generation
from vlforge.export.mobile_use import relative_999_to_point
from vlforge.geometry import relative_1000_to_xyxy, resized_absolute_to_xyxy
from vlforge.preannotate.parsing import JsonConvention, clean_caption, parse_grounding, parse_ocr_lines
from vlforge.quality.metrics.actions import ACTION_TYPES
from vlforge.records import Box, GuiAction, OcrLine

JSON_CONVENTIONS: dict[str, JsonConvention] = {
    "qwen_vl": "relative_1000",
    "qwen2_5_vl": "resized_absolute",
    "qwen3_vl": "relative_1000",
}
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_BOX_TAG = re.compile(r"(?:<box>|<\|box_start\|>)\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*,\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_SECONDS = r"(?:s\b|secs?\b|seconds?\b)"
_SPAN = re.compile(
    rf"(\d+(?:\.\d+)?)\s*{_SECONDS}?\s*(?:-|–|to|and|until)\s*(\d+(?:\.\d+)?)\s*{_SECONDS}", re.IGNORECASE
)


@dataclass(frozen=True)
class Frame:
    """The image an answer is about: its size, and the size the model saw it at (Qwen2.5-VL's pixels)."""

    width: int
    height: int
    resized: tuple[int, int]


def read_boxes(answer: str, generation: Generation, frame: Frame) -> list[Box]:
    return parse_grounding(answer, frame.width, frame.height, JSON_CONVENTIONS[generation], frame.resized)


def read_ocr_lines(answer: str, generation: Generation, frame: Frame) -> list[OcrLine]:
    return parse_ocr_lines(answer, frame.width, frame.height, JSON_CONVENTIONS[generation], frame.resized)


def read_text(answer: str) -> str:
    return clean_caption(answer)


def read_intervals(answer: str) -> list[tuple[float, float]]:
    """Every ``(start_s, end_s)`` span the answer names, in order, start not after end."""
    spans = [(float(start), float(end)) for start, end in _SPAN.findall(answer)]
    return [(start, end) for start, end in spans if start <= end]


def read_actions(answer: str, generation: Generation, frame: Frame) -> list[GuiAction]:
    """The answer's GUI actions in order, points in pixels of the screen ``frame``."""
    if generation == "qwen_vl":
        return [action for line in answer.splitlines() if (action := _qwen_vl_action(line, frame)) is not None]
    actions = []
    for block in _TOOL_CALL.findall(answer):
        try:
            call = json.loads(block)
        except json.JSONDecodeError:
            continue
        arguments = call.get("arguments") if isinstance(call, dict) else None
        if isinstance(arguments, dict) and isinstance(arguments.get("action"), str):
            actions.append(_tool_action(arguments, generation, frame))
    return actions


def _tool_action(arguments: dict[str, object], generation: Generation, frame: Frame) -> GuiAction:
    kind = str(arguments["action"])
    text = arguments.get("text", arguments.get("status", ""))
    if kind == "system_button":
        kind, text = "key", arguments.get("button", "")
    point = None
    coordinate = arguments.get("coordinate")
    if (
        isinstance(coordinate, list)
        and len(coordinate) == 2
        and all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) for value in coordinate)
    ):
        x, y = float(coordinate[0]), float(coordinate[1])
        if generation == "qwen2_5_vl":
            point = resized_absolute_to_xyxy((x, y, x, y), frame.width, frame.height, *frame.resized)[:2]
        else:
            point = relative_999_to_point((x, y), frame.width, frame.height)
    return GuiAction(type=kind, point=point, text=str(text) if text is not None else "")


def _qwen_vl_action(line: str, frame: Frame) -> GuiAction | None:
    words = line.strip().split(maxsplit=1)
    if not words:
        return None
    kind, rest = words[0], (words[1] if len(words) > 1 else "")
    if kind not in ACTION_TYPES:
        return None
    point = None
    box = _BOX_TAG.search(rest)
    if box is not None:
        x1, y1, x2, y2 = relative_1000_to_xyxy(tuple(float(value) for value in box.groups()), frame.width, frame.height)  # type: ignore[arg-type]
        point = ((x1 + x2) / 2, (y1 + y2) / 2)
    quoted = _QUOTED.match(rest)
    if quoted is not None:
        try:
            text = str(json.loads(quoted.group(0)))
        except json.JSONDecodeError:
            text = quoted.group(0).strip('"')
    else:
        text = rest.split("<", 1)[0].strip()
    return GuiAction(type=kind, point=point, text=text)
