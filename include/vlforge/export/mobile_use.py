"""GUI actions as ``mobile_use`` tool calls, the form of the Qwen2.5-VL and Qwen3-VL mobile-agent cookbooks.

Every action becomes one block, and a sample's actions are joined by newlines::

    <tool_call>
    {"name": "mobile_use", "arguments": {"action": "click", "coordinate": [935, 406]}}
    </tool_call>

The tool (``MobileUse`` in the cookbooks' ``utils/agent_function_call.py``, QwenLM/Qwen2.5-VL
``cookbooks/mobile_agent.ipynb``) knows ``key``, ``click``, ``long_press``, ``swipe``, ``type``,
``system_button``, ``open``, ``wait`` and ``terminate``, with the arguments ``coordinate``,
``coordinate2`` (swipe's end), ``text`` (key, type, open), ``time`` (long_press, wait),
``button`` (``Back``, ``Home``, ``Menu``, ``Enter``) and ``status`` (``success``, ``failure``).

A vlforge ``GuiAction`` maps onto it as follows; the screen is the sample's first image:

- the target of ``click``/``long_press`` is the action's point, else its box's centre
  ``((x1 + x2) / 2, (y1 + y2) / 2)``;
- ``key`` whose text is Back, Home, Menu or Enter (any case) is a ``system_button``; other keys stay ``key``;
- ``swipe`` starts at its point (else its box's centre) and its text is the direction
  (``up``, ``down``, ``left``, ``right``); it ends on the edge of its box in that direction
  (the box is the scrollable region), e.g. ``up`` ends at ``(x, box.y1)``;
- ``long_press`` and ``wait`` take ``time`` from their text when it is a number of seconds,
  else ``DEFAULT_SECONDS``;
- ``terminate`` takes ``status`` from its text, ``success`` when empty;
- ``scroll`` has no ``mobile_use`` form (annotate a ``swipe``) and is refused.

Coordinates, one function per generation:

- Qwen2.5-VL: pixels of the screen as the processor resizes it (``smart_resize``), as the
  cookbook's tool declares "The screen's resolution is 1092x2408" for a 1080x2400 phone:
  ``round(v * new / old)`` clamped to ``[0, new - 1]`` (``geometry.xyxy_to_resized_absolute``).
- Qwen3-VL: relative ``0..999``; the Qwen3-VL ``cookbooks/mobile_agent.ipynb`` maps the model's
  point back with ``round(v / 999 * size)``, so a pixel becomes ``round(v / size * 999)``, clamped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from vlforge.config import SmartResizeConfig
from vlforge.export.render import ExportError
from vlforge.geometry import smart_resize, xyxy_to_resized_absolute
from vlforge.records import GuiAction, ImageRef, Sample

Point = tuple[float, float]
PointCoordinates = Callable[[Point, ImageRef], list[int]]

TOOL_NAME = "mobile_use"
SYSTEM_BUTTONS = {"back": "Back", "home": "Home", "menu": "Menu", "enter": "Enter"}
DIRECTIONS = ("up", "down", "left", "right")
TERMINATE_STATUSES = ("success", "failure")
DEFAULT_SECONDS = 2
QWEN3_VL_POINT_MAX = 999


def point_to_relative_999(point: Point, image_w: int, image_h: int) -> list[int]:
    """Qwen3-VL GUI coordinates: ``round(v / size * 999)`` clamped to ``[0, 999]``.

    The inverse of the Qwen3-VL cookbook's ``rescale_coordinates`` (``round(v / 999 * size)``).
    """
    x, y = point
    return [
        min(QWEN3_VL_POINT_MAX, max(0, round(x / image_w * QWEN3_VL_POINT_MAX))),
        min(QWEN3_VL_POINT_MAX, max(0, round(y / image_h * QWEN3_VL_POINT_MAX))),
    ]


def relative_999_to_point(coordinate: Point, image_w: int, image_h: int) -> Point:
    """A Qwen3-VL GUI coordinate back to pixels, as the Qwen3-VL cookbook's ``rescale_coordinates``: ``v / 999 * size``.

    Unrounded, so that a model's point is scored where it lands; the inverse of ``point_to_relative_999`` up to its rounding.
    """
    return (coordinate[0] / QWEN3_VL_POINT_MAX * image_w, coordinate[1] / QWEN3_VL_POINT_MAX * image_h)


def qwen3_vl_points(point: Point, image: ImageRef) -> list[int]:
    return point_to_relative_999(point, image.width, image.height)


def qwen2_5_vl_points(resize: SmartResizeConfig) -> PointCoordinates:
    """Pixels of the smart-resized screen, rounded and clamped like Qwen2.5-VL boxes."""

    def points(point: Point, image: ImageRef) -> list[int]:
        height, width = smart_resize(image.height, image.width, resize.factor, resize.min_pixels, resize.max_pixels)
        x, y = point
        return list(xyxy_to_resized_absolute((x, y, x, y), image.width, image.height, width, height)[:2])

    return points


def _target(action: GuiAction) -> Point | None:
    if action.point is not None:
        return action.point
    if action.box is not None:
        return ((action.box.x1 + action.box.x2) / 2, (action.box.y1 + action.box.y2) / 2)
    return None


def _seconds(sample: Sample, action: GuiAction) -> float | int:
    text = action.text.strip()
    if not text:
        return DEFAULT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        raise ExportError(
            f"sample {sample.sample_id}: {action.type} text {action.text!r} is not a number of seconds"
        ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ExportError(f"sample {sample.sample_id}: {action.type} time {action.text!r} is not a duration")
    return int(seconds) if seconds.is_integer() else seconds


def _swipe_end(sample: Sample, action: GuiAction, start: Point) -> Point:
    direction = action.text.strip().lower()
    if direction not in DIRECTIONS or action.box is None:
        raise ExportError(
            f"sample {sample.sample_id}: a swipe needs a direction ({', '.join(DIRECTIONS)}) as its text "
            f"and a box (the region it scrolls); got text {action.text!r} and box {action.box}"
        )
    box = action.box
    ends = {"up": (start[0], box.y1), "down": (start[0], box.y2), "left": (box.x1, start[1]), "right": (box.x2, start[1])}
    return ends[direction]


def action_arguments(sample: Sample, action: GuiAction, points: PointCoordinates) -> dict[str, object]:
    """The ``arguments`` object of one ``mobile_use`` call.

    Args:
        sample: the sample (its first image is the screen), named in errors.
        action: the action.
        points: the model generation's point conversion.

    Returns:
        ``{"action": ..., ...}`` with the arguments the cookbook's tool requires.
    """
    if not sample.images:
        raise ExportError(f"sample {sample.sample_id}: GUI actions need a screenshot, but the sample has no image")
    screen = sample.images[0]
    kind = action.type
    target = _target(action)
    if kind in ("click", "long_press"):
        if target is None:
            raise ExportError(f"sample {sample.sample_id}: {kind} has neither a point nor a box")
        arguments: dict[str, object] = {"action": kind, "coordinate": points(target, screen)}
        if kind == "long_press":
            arguments["time"] = _seconds(sample, action)
        return arguments
    if kind == "swipe":
        if target is None:
            raise ExportError(f"sample {sample.sample_id}: swipe has no start point")
        end = _swipe_end(sample, action, target)
        return {"action": "swipe", "coordinate": points(target, screen), "coordinate2": points(end, screen)}
    if kind in ("type", "key", "open"):
        if not action.text:
            raise ExportError(f"sample {sample.sample_id}: {kind} has no text")
        button = SYSTEM_BUTTONS.get(action.text.strip().lower()) if kind == "key" else None
        if button:
            return {"action": "system_button", "button": button}
        return {"action": kind, "text": action.text}
    if kind == "wait":
        return {"action": "wait", "time": _seconds(sample, action)}
    if kind == "terminate":
        status = action.text.strip().lower() or "success"
        if status not in TERMINATE_STATUSES:
            raise ExportError(f"sample {sample.sample_id}: terminate status {action.text!r} is not success or failure")
        return {"action": "terminate", "status": status}
    raise ExportError(
        f"sample {sample.sample_id}: action type {kind!r} has no mobile_use form "
        "(click, long_press, swipe, type, key, open, wait, terminate)"
    )


def tool_call(arguments: dict[str, object]) -> str:
    call = json.dumps({"name": TOOL_NAME, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{call}\n</tool_call>"


def actions_answer(sample: Sample, points: PointCoordinates) -> str:
    """All of a sample's actions as ``mobile_use`` tool calls, one block per action, in order."""
    return "\n".join(tool_call(action_arguments(sample, action, points)) for action in sample.actions)
