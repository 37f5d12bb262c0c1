"""Model-side accuracy per task type: pure functions of a parsed answer and the sample's own annotation.

Each returns a share in ``[0, 1]`` for one sample, or ``None`` when the sample has nothing to score
of that kind. Extra predictions count against a sample as missed references do: the share is
``hits / max(references, predictions)``, so an answer that names every box of the image scores low.

- grounding: boxes matched one-to-one (Hungarian on IoU, ``quality.metrics.iou.match_boxes``); a hit is a
  matched pair with IoU >= ``GROUNDING_IOU`` (0.5), labels ignored (a referring answer names its object
  freely);
- OCR: character accuracy ``1 - CER`` of the transcribed lines (``quality.metrics.ocr.sample_ocr_accuracy``:
  lines paired by box overlap, then in reading order);
- GUI action: action by action in order, a hit has the reference's type and, for a reference with a box,
  a predicted point inside that box; with only a point, one within 5% of the screen diagonal
  (``quality.metrics.actions.SAME_TARGET_DIAGONAL_FRACTION``); without a target (``type``, ``key``,
  ``open``), the same text (case-folded, whitespace collapsed); ``wait`` and ``terminate`` by type alone;
- video event: predicted ``(start, end)`` intervals matched one-to-one to the reference events on temporal
  IoU; a hit has temporal IoU >= ``EVENT_IOU`` (0.5).

Caption and VQA answers are scored with BERTScore F1 against the reference turn, by the recipe's
calibrated encoder (``quality.metrics.bertscore``): ``passes_bertscore`` holds it to that encoder's
calibrated per-sample threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from vlforge.quality.metrics.actions import SAME_TARGET_DIAGONAL_FRACTION, normalise_text
from vlforge.quality.metrics.iou import match_boxes
from vlforge.quality.metrics.ocr import sample_ocr_accuracy
from vlforge.records import Box, GuiAction, OcrLine, VideoEvent

GROUNDING_IOU = 0.5
EVENT_IOU = 0.5
Interval = tuple[float, float]


def _share(hits: int, references: int, predictions: int) -> float | None:
    if references == 0:
        return None
    return hits / max(references, predictions)


def grounding_accuracy(predicted: Sequence[Box], reference: Sequence[Box], iou_threshold: float = GROUNDING_IOU) -> float | None:
    """Share of reference boxes found at IoU >= ``iou_threshold``, extra predicted boxes counting as misses.

    Args:
        predicted: the answer's boxes, in pixels of the image the reference is on.
        reference: the sample's boxes on that image.
        iou_threshold: the IoU a matched pair needs.

    Returns:
        ``hits / max(len(reference), len(predicted))``; ``None`` without reference boxes.
    """
    hits = sum(iou >= iou_threshold for _, _, iou in match_boxes(list(reference), list(predicted)))
    return _share(hits, len(reference), len(predicted))


def ocr_answer_accuracy(predicted: Sequence[OcrLine], reference: Sequence[OcrLine]) -> float | None:
    """Character accuracy of the answer's lines against the sample's (``sample_ocr_accuracy``); ``None`` without reference lines."""
    if not reference:
        return None
    return sample_ocr_accuracy(list(reference), list(predicted))


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box.x1 <= point[0] <= box.x2 and box.y1 <= point[1] <= box.y2


def action_hit(predicted: GuiAction, reference: GuiAction, width: int, height: int) -> bool:
    """Whether one predicted action does what the reference action does (see the module docstring)."""
    if predicted.type != reference.type:
        return False
    if reference.box is not None:
        return predicted.point is not None and _inside(predicted.point, reference.box)
    if reference.point is not None:
        if predicted.point is None:
            return False
        return math.dist(predicted.point, reference.point) <= SAME_TARGET_DIAGONAL_FRACTION * math.hypot(width, height)
    if reference.type in ("type", "key", "open"):
        return normalise_text(predicted.text) == normalise_text(reference.text)
    return True


def gui_action_accuracy(predicted: Sequence[GuiAction], reference: Sequence[GuiAction], width: int, height: int) -> float | None:
    """Share of reference actions the answer reproduces at the same position in the sequence.

    Args:
        predicted: the answer's actions, points in pixels of the screen.
        reference: the sample's actions.
        width, height: the screen's size in pixels.

    Returns:
        ``hits / max(len(reference), len(predicted))``; ``None`` without reference actions.
    """
    hits = sum(action_hit(guess, truth, width, height) for guess, truth in zip(predicted, reference, strict=False))
    return _share(hits, len(reference), len(predicted))


def temporal_iou(a: Interval, b: Interval) -> float:
    """Overlap over union of two ``(start, end)`` intervals in seconds; 0 when the union is empty."""
    overlap = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return overlap / union if union > 0 else 0.0


def video_event_accuracy(predicted: Sequence[Interval], reference: Sequence[VideoEvent], iou_threshold: float = EVENT_IOU) -> float | None:
    """Share of reference events whose time the answer gives at temporal IoU >= ``iou_threshold``.

    Args:
        predicted: ``(start_s, end_s)`` intervals read from the answer.
        reference: the sample's events.
        iou_threshold: the temporal IoU a matched pair needs.

    Returns:
        ``hits / max(len(reference), len(predicted))`` after one-to-one matching; ``None`` without reference events.
    """
    if not reference:
        return None
    if not predicted:
        return 0.0
    matrix = np.array([[temporal_iou((event.start_s, event.end_s), interval) for interval in predicted] for event in reference])
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    hits = int(sum(matrix[row, col] >= iou_threshold for row, col in zip(rows, cols, strict=True)))
    return _share(hits, len(reference), len(predicted))


def passes_bertscore(f1: float | None, threshold: float | None) -> bool | None:
    """Whether an answer's BERTScore F1 reaches its encoder's calibrated threshold; ``None`` when either is unknown."""
    if f1 is None or threshold is None:
        return None
    return f1 >= threshold
