"""GUI action completeness: which actions could be executed as annotated, and why the others could not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlforge.quality.metrics.actions import (
    ACTION_TYPES,
    DISAGREES_WITH_OTHER_ROUND,
    MISSING_TARGET,
    MISSING_TEXT,
    TARGET_OUTSIDE_SCREEN,
    TEXT_NOT_ON_SCREEN,
    UNKNOWN_TYPE,
    action_completeness,
    action_failures,
    normalise_text,
    same_target,
)
from vlforge.records import Box, GuiAction

W, H = 1080, 2400  # the Qwen2.5-VL cookbook's phone screenshot


def _click(x: float, y: float, text: str = "", kind: str = "click") -> GuiAction:
    return GuiAction(type=kind, point=(x, y), text=text)


def _box_click(x1: float, y1: float, x2: float, y2: float, text: str = "") -> GuiAction:
    return GuiAction(type="click", box=Box(x1=x1, y1=y1, x2=x2, y2=y2), text=text)


def test_none_without_actions() -> None:
    assert action_completeness([], W, H, [], None) is None
    assert action_completeness([], W, H, ["Settings"], [_click(1, 1)]) is None


def test_every_action_type_of_the_record_schema_is_known() -> None:
    assert ACTION_TYPES == {"click", "long_press", "type", "swipe", "scroll", "key", "open", "wait", "terminate"}
    assert action_failures([GuiAction(type="double_tap", point=(10, 10))], W, H, []) == [[UNKNOWN_TYPE]]


@pytest.mark.parametrize(
    ("action", "failed"),
    [
        (_click(540, 1200), []),
        (GuiAction(type="click"), [MISSING_TARGET]),
        (GuiAction(type="long_press", text="Photos"), [MISSING_TARGET]),
        (GuiAction(type="swipe", box=Box(x1=0, y1=0, x2=10, y2=10)), [MISSING_TARGET]),
        (GuiAction(type="swipe", point=(500, 2000)), []),
        (GuiAction(type="type"), [MISSING_TEXT]),
        (GuiAction(type="type", text="  "), [MISSING_TEXT]),
        (GuiAction(type="type", text="hello world"), []),
        (GuiAction(type="key", text="Enter"), []),
        (GuiAction(type="open"), [MISSING_TEXT]),
        (GuiAction(type="wait"), []),
        (GuiAction(type="terminate"), []),
        (_click(1081, 100), [TARGET_OUTSIDE_SCREEN]),
        (_click(-1, 100), [TARGET_OUTSIDE_SCREEN]),
        (_click(1080, 2400), []),  # the edge is on the screen
        (_box_click(1000, 100, 1100, 200), [TARGET_OUTSIDE_SCREEN]),
        (_box_click(100, 200, 100, 300), [TARGET_OUTSIDE_SCREEN]),  # zero width
        (GuiAction(type="frobnicate", point=(5000, 5000)), [UNKNOWN_TYPE, TARGET_OUTSIDE_SCREEN]),
    ],
)
def test_checks_of_one_action(action: GuiAction, failed: list[str]) -> None:
    assert action_failures([action], W, H, []) == [failed]


def test_target_text_must_be_on_screen_case_and_whitespace_normalised() -> None:
    screen = ["Wi-Fi   and  Network", "Display", "Battery 87%"]
    actions = [
        _click(100, 100, "wi-fi and network"),
        _click(100, 200, "BATTERY"),
        _click(100, 300, "Bluetooth"),
        GuiAction(type="type", text="Bluetooth"),  # typed text is input, never looked up
    ]
    assert action_failures(actions, W, H, screen) == [[], [], [TEXT_NOT_ON_SCREEN], []]
    assert action_completeness(actions, W, H, screen, None) == 0.75
    assert action_completeness(actions, W, H, [], None) == 1.0  # no OCR of the screen: lookup skipped
    assert normalise_text("  Wi-Fi\n and\tNetwork ") == "wi-fi and network"


def test_agreement_with_the_other_round() -> None:
    diagonal = (W**2 + H**2) ** 0.5
    mine = [
        _box_click(100, 100, 300, 200),  # other's point inside my box
        _click(500, 500),  # inside other's box
        _box_click(0, 0, 100, 100),  # boxes IoU 0.81
        _click(540, 1200),  # points 4.9% of the diagonal apart
        _click(540, 1200),  # points 5.1% apart
        _click(540, 1200),  # same point, different type
        GuiAction(type="wait"),  # no target: type alone
        GuiAction(type="click", point=(10, 10)),  # the other round has no action here
    ]
    other = [
        _click(290, 190),
        _box_click(450, 450, 550, 560),
        _box_click(5, 5, 100, 100),
        _click(540 + 0.049 * diagonal, 1200),
        _click(540 + 0.051 * diagonal, 1200),
        _click(540, 1200, kind="long_press"),
        GuiAction(type="wait"),
    ]
    failures = action_failures(mine, W, H, [], other)
    assert [DISAGREES_WITH_OTHER_ROUND in failed for failed in failures] == [
        False, False, False, False, True, True, False, True,
    ]
    assert action_completeness(mine, W, H, [], other) == pytest.approx(5 / 8)
    assert action_completeness(mine, W, H, [], None) == 1.0  # no second round: nothing to disagree with


def test_same_target_when_only_one_side_has_a_target() -> None:
    assert not same_target(_click(10, 10), GuiAction(type="click"), W, H)
    assert same_target(GuiAction(type="wait"), GuiAction(type="wait"), W, H)


def test_seeclick_points_are_executable(fixtures_dir: Path) -> None:
    rows = [json.loads(line) for line in (fixtures_dir / "seeclick/test_img_points_DERIVED.jsonl").read_text().splitlines()]
    width, height = 2360, 1640  # the screenshot's size
    actions = [_click(row["point_norm01"][0] * width, row["point_norm01"][1] * height) for row in rows]
    assert len(actions) == 3
    assert action_completeness(actions, width, height, [], None) == 1.0
    # The same points left as 0-1 ratios (not converted to pixels) still land on the screen, at its corner:
    # only the agreement check with a converted second round can catch that.
    ratios = [_click(*row["point_norm01"]) for row in rows]
    assert action_completeness(ratios, width, height, [], actions) == 0.0
