"""The accuracy math on hand-made answers whose scores are known."""

from __future__ import annotations

import pytest

from vlforge.evaluate.model.metrics import (
    grounding_accuracy,
    gui_action_accuracy,
    ocr_answer_accuracy,
    passes_bertscore,
    temporal_iou,
    video_event_accuracy,
)
from vlforge.records import Box, GuiAction, OcrLine, VideoEvent

SQUARE = Box(x1=0, y1=0, x2=100, y2=100, label="square")


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ([SQUARE], 1.0),
        ([Box(x1=0, y1=0, x2=100, y2=50)], 1.0),  # IoU exactly 0.5 is a hit
        ([Box(x1=0, y1=0, x2=100, y2=49)], 0.0),  # IoU 0.49
        ([Box(x1=50, y1=0, x2=150, y2=100)], 0.0),  # IoU 1/3
        ([Box(x1=2, y1=2, x2=98, y2=98, label="another name")], 1.0),  # labels are not compared
        ([SQUARE, Box(x1=300, y1=300, x2=400, y2=400)], 0.5),  # an extra box counts against
        ([], 0.0),
    ],
)
def test_grounding_accuracy_is_the_share_of_boxes_found_at_iou_one_half(predicted: list[Box], expected: float) -> None:
    assert grounding_accuracy(predicted, [SQUARE]) == pytest.approx(expected)


def test_grounding_matches_boxes_one_to_one() -> None:
    second = Box(x1=200, y1=0, x2=300, y2=100)
    assert grounding_accuracy([second, SQUARE], [SQUARE, second]) == 1.0
    assert grounding_accuracy([SQUARE, SQUARE], [SQUARE, second]) == 0.5  # one prediction cannot hit two references
    assert grounding_accuracy([SQUARE], []) is None


def test_ocr_accuracy_is_one_minus_the_character_error_rate() -> None:
    reference = [OcrLine(text="HELLO"), OcrLine(text="WORLD")]
    assert ocr_answer_accuracy([OcrLine(text="HELLO"), OcrLine(text="WORLD")], reference) == 1.0
    assert ocr_answer_accuracy([OcrLine(text="HELLX"), OcrLine(text="WORLD")], reference) == pytest.approx(0.9)
    assert ocr_answer_accuracy([OcrLine(text="HELLO")], reference) == pytest.approx(0.5)  # a missing line: 5 deletions
    assert ocr_answer_accuracy([], reference) == 0.0
    assert ocr_answer_accuracy([OcrLine(text="x")], []) is None


BUTTON = GuiAction(type="click", box=Box(x1=10, y1=10, x2=50, y2=50))


@pytest.mark.parametrize(
    ("predicted", "reference", "expected"),
    [
        ([GuiAction(type="click", point=(30, 30))], [BUTTON], 1.0),
        ([GuiAction(type="click", point=(50, 50))], [BUTTON], 1.0),  # on the edge is inside
        ([GuiAction(type="click", point=(60, 30))], [BUTTON], 0.0),
        ([GuiAction(type="long_press", point=(30, 30))], [BUTTON], 0.0),  # the wrong action type
        ([GuiAction(type="click")], [BUTTON], 0.0),  # no point
        ([GuiAction(type="type", text=" Hello  World")], [GuiAction(type="type", text="hello world")], 1.0),
        ([GuiAction(type="type", text="hello")], [GuiAction(type="type", text="goodbye")], 0.0),
        ([GuiAction(type="wait")], [GuiAction(type="wait", text="2")], 1.0),
        # A reference with a point only: within 5% of the 1000x1000 screen's diagonal (70.7 px).
        ([GuiAction(type="click", point=(140, 140))], [GuiAction(type="click", point=(100, 100))], 1.0),
        ([GuiAction(type="click", point=(160, 160))], [GuiAction(type="click", point=(100, 100))], 0.0),
        # In order: the second reference action is missed.
        ([GuiAction(type="click", point=(30, 30))], [BUTTON, GuiAction(type="type", text="x")], 0.5),
        ([GuiAction(type="click", point=(30, 30)), GuiAction(type="wait")], [BUTTON], 0.5),  # an extra action
        ([], [BUTTON], 0.0),
    ],
)
def test_gui_action_accuracy_wants_the_point_inside_the_target_box(
    predicted: list[GuiAction], reference: list[GuiAction], expected: float
) -> None:
    assert gui_action_accuracy(predicted, reference, 1000, 1000) == pytest.approx(expected)


def test_gui_action_accuracy_without_reference_actions_is_none() -> None:
    assert gui_action_accuracy([BUTTON], [], 100, 100) is None


def test_temporal_iou() -> None:
    assert temporal_iou((1.0, 3.0), (2.0, 4.0)) == pytest.approx(1 / 3)
    assert temporal_iou((1.0, 3.0), (1.0, 3.0)) == 1.0
    assert temporal_iou((1.0, 2.0), (3.0, 4.0)) == 0.0
    assert temporal_iou((1.0, 1.0), (1.0, 1.0)) == 0.0


EVENTS = [VideoEvent(start_s=1.0, end_s=3.0, description="waves"), VideoEvent(start_s=4.5, end_s=5.0, description="leaves")]


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ([(1.0, 3.0), (4.5, 5.0)], 1.0),
        ([(4.5, 5.0), (1.0, 3.0)], 1.0),  # order does not matter
        ([(1.2, 3.1)], 0.5),  # tIoU 1.8 / 2.1 for the first, the second missed
        ([(2.0, 4.0)], 0.0),  # tIoU 1/3 at best
        ([(1.0, 3.0), (4.5, 5.0), (7.0, 8.0)], 2 / 3),  # an extra span counts against
        ([], 0.0),
    ],
)
def test_video_event_accuracy_is_the_share_of_events_timed_at_temporal_iou_one_half(
    predicted: list[tuple[float, float]], expected: float
) -> None:
    assert video_event_accuracy(predicted, EVENTS) == pytest.approx(expected)
    assert video_event_accuracy(predicted, []) is None


def test_bertscore_passes_at_or_above_the_calibrated_threshold() -> None:
    assert passes_bertscore(0.3681, 0.3681) is True
    assert passes_bertscore(0.3680, 0.3681) is False
    assert passes_bertscore(None, 0.3681) is None and passes_bertscore(0.9, None) is None
