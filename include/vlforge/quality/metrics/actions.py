"""GUI action completeness: the share of a round's actions that an agent could execute as annotated.

An action passes when every check below holds; ``action_failures`` names the
checks each action fails, so that reports can say why.

- ``unknown_type``: the type is one of ``records.GuiActionType``.
- ``missing_target``: ``click`` and ``long_press`` have a box or a point;
  ``swipe`` has a point (where the swipe starts).
- ``missing_text``: ``type``, ``key`` and ``open`` have text (what to type, the
  key, the app).
- ``target_outside_screen``: a box or point lies inside the screen
  ``[0, width] x [0, height]``, and a box has positive width and height.
- ``text_not_on_screen``: for ``click`` and ``long_press`` with text (the
  element's label), the text occurs in one of the screen texts (OCR lines of the
  screenshot) after both are case-folded and runs of whitespace collapsed to one
  space. Skipped when there are no screen texts. For ``type``, ``key`` and
  ``open`` the text is input, not something on the screen, so it is not looked up.
- ``disagrees_with_other_round``: only when the other round's actions are given.
  The other round's action at the same index must exist and have the same type,
  and, when either action has a target, both must have one and hit the same
  element: a point (an action's point, or its box's centre) of one lies inside
  the other's box, or both have boxes with IoU >= 0.5, or their points lie
  within 5% of the screen diagonal of each other. Actions without a target
  (``wait``, ``type``, ...) agree on type alone. Extra actions at the end of the
  other round are not held against this round.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import get_args

from vlforge.quality.metrics.iou import box_iou
from vlforge.records import Box, GuiAction, GuiActionType

ACTION_TYPES: frozenset[str] = frozenset(get_args(GuiActionType))
NEEDS_TARGET: frozenset[str] = frozenset({"click", "long_press"})
NEEDS_POINT: frozenset[str] = frozenset({"swipe"})
NEEDS_TEXT: frozenset[str] = frozenset({"type", "key", "open"})
TEXT_IS_TARGET: frozenset[str] = NEEDS_TARGET
SAME_TARGET_IOU = 0.5
SAME_TARGET_DIAGONAL_FRACTION = 0.05

UNKNOWN_TYPE = "unknown_type"
MISSING_TARGET = "missing_target"
MISSING_TEXT = "missing_text"
TARGET_OUTSIDE_SCREEN = "target_outside_screen"
TEXT_NOT_ON_SCREEN = "text_not_on_screen"
DISAGREES_WITH_OTHER_ROUND = "disagrees_with_other_round"
CHECKS: tuple[str, ...] = (
    UNKNOWN_TYPE,
    MISSING_TARGET,
    MISSING_TEXT,
    TARGET_OUTSIDE_SCREEN,
    TEXT_NOT_ON_SCREEN,
    DISAGREES_WITH_OTHER_ROUND,
)


def normalise_text(text: str) -> str:
    """Case-folded, with every run of whitespace as one space and none at the ends."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def target_point(action: GuiAction) -> tuple[float, float] | None:
    """Where an action lands: its point, else its box's centre, else ``None``."""
    if action.point is not None:
        return action.point
    if action.box is not None:
        return ((action.box.x1 + action.box.x2) / 2, (action.box.y1 + action.box.y2) / 2)
    return None


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box.x1 <= point[0] <= box.x2 and box.y1 <= point[1] <= box.y2


def _on_screen(action: GuiAction, width: int, height: int) -> bool:
    screen = Box(x1=0, y1=0, x2=width, y2=height)
    if action.point is not None and not _inside(action.point, screen):
        return False
    box = action.box
    if box is not None:
        if not (box.x2 > box.x1 and box.y2 > box.y1):
            return False
        if not (_inside((box.x1, box.y1), screen) and _inside((box.x2, box.y2), screen)):
            return False
    return True


def same_target(a: GuiAction, b: GuiAction, width: int, height: int) -> bool:
    """Whether two actions hit the same element (types are not compared).

    True when neither has a target; false when only one has. Otherwise true when
    a point of one (its point or its box's centre) is inside the other's box,
    or both boxes overlap with IoU >= 0.5, or the two points are within 5% of
    the screen diagonal.

    Args:
        a: an action.
        b: the other round's action.
        width: screen width in pixels.
        height: screen height in pixels.

    Returns:
        Whether the targets agree.
    """
    point_a, point_b = target_point(a), target_point(b)
    if point_a is None or point_b is None:
        return point_a is None and point_b is None
    if b.box is not None and _inside(point_a, b.box):
        return True
    if a.box is not None and _inside(point_b, a.box):
        return True
    if a.box is not None and b.box is not None and box_iou(a.box, b.box) >= SAME_TARGET_IOU:
        return True
    return math.dist(point_a, point_b) <= SAME_TARGET_DIAGONAL_FRACTION * math.hypot(width, height)


def action_checks(
    action: GuiAction,
    width: int,
    height: int,
    screen_texts: Sequence[str] = (),
    other: GuiAction | None = None,
    compare: bool = False,
) -> list[str]:
    """The checks one action fails (see the module docstring for each).

    Args:
        action: the action.
        width: screen width in pixels.
        height: screen height in pixels.
        screen_texts: texts visible on the screen (OCR lines); empty skips the text lookup.
        other: the other round's action at the same index, if it has one.
        compare: whether to compare with the other round (``other=None`` then means it has no action there).

    Returns:
        Names of the failed checks, in the order of ``CHECKS``; empty when the action is executable.
    """
    failed: list[str] = []
    if action.type not in ACTION_TYPES:
        failed.append(UNKNOWN_TYPE)
    if (action.type in NEEDS_TARGET and action.box is None and action.point is None) or (
        action.type in NEEDS_POINT and action.point is None
    ):
        failed.append(MISSING_TARGET)
    if action.type in NEEDS_TEXT and not action.text.strip():
        failed.append(MISSING_TEXT)
    if not _on_screen(action, width, height):
        failed.append(TARGET_OUTSIDE_SCREEN)
    wanted = normalise_text(action.text)
    if action.type in TEXT_IS_TARGET and wanted and screen_texts:
        if not any(wanted in normalise_text(text) for text in screen_texts):
            failed.append(TEXT_NOT_ON_SCREEN)
    if compare and (other is None or other.type != action.type or not same_target(action, other, width, height)):
        failed.append(DISAGREES_WITH_OTHER_ROUND)
    return failed


def action_failures(
    actions: list[GuiAction],
    width: int,
    height: int,
    screen_texts: list[str],
    other_round: list[GuiAction] | None = None,
) -> list[list[str]]:
    """The failed checks of each action of a round, for reports.

    Args:
        actions: one round's actions, in order.
        width: screen width in pixels.
        height: screen height in pixels.
        screen_texts: texts visible on the screen; empty skips the text lookup.
        other_round: the other round's actions, compared index by index; ``None`` skips the comparison.

    Returns:
        One list per action with the names of the checks it fails (empty when it passes).
    """
    compare = other_round is not None
    others = other_round or []
    return [
        action_checks(action, width, height, screen_texts, others[i] if i < len(others) else None, compare)
        for i, action in enumerate(actions)
    ]


def action_completeness(
    actions: list[GuiAction],
    width: int,
    height: int,
    screen_texts: list[str],
    other_round: list[GuiAction] | None,
) -> float | None:
    """Share of a round's actions that pass every check.

    Args:
        actions: one round's actions, in order.
        width: screen width in pixels.
        height: screen height in pixels.
        screen_texts: texts visible on the screen; empty skips the text lookup.
        other_round: the other round's actions, compared index by index; ``None`` skips the comparison.

    Returns:
        The share in ``[0, 1]``; ``None`` when the round has no action.
    """
    if not actions:
        return None
    failures = action_failures(actions, width, height, screen_texts, other_round)
    return sum(not failed for failed in failures) / len(actions)
