"""Box IoU and per-label one-to-one agreement, checked against pycocotools and torchmetrics' numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pycocotools import mask as coco_mask

from vlforge.quality.metrics.iou import box_iou, iou_agreement, iou_matrix, match_boxes, per_label_iou
from vlforge.records import Box


def _box(x1: float, y1: float, x2: float, y2: float, label: str = "", image_index: int = 0) -> Box:
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, label=label, image_index=image_index)


def _xywh(array: np.ndarray) -> np.ndarray:
    return np.column_stack([array[:, 0], array[:, 1], array[:, 2] - array[:, 0], array[:, 3] - array[:, 1]])


def test_iou_matrix_equals_pycocotools_on_random_boxes() -> None:
    rng = np.random.default_rng(7)
    corners = rng.uniform(0, 500, size=(2, 40, 2))
    sizes = rng.uniform(0.5, 200, size=(2, 40, 2))
    a = np.hstack([corners[0], corners[0] + sizes[0]])
    b = np.hstack([corners[1], corners[1] + sizes[1]])
    expected = coco_mask.iou(_xywh(a), _xywh(b), [0] * len(b))
    assert (expected > 0).sum() == 189  # of 1600 pairs: the draw has overlaps, so this tests something
    assert_allclose(iou_matrix(a, b), expected, atol=1e-6)


def test_iou_matrix_equals_torchmetrics_reference(fixtures_dir: Path) -> None:
    vectors = json.loads((fixtures_dir / "torchmetrics/iou_vectors_DERIVED.json").read_text())
    preds, target = np.array(vectors["preds"]), np.array(vectors["target"])
    got = iou_matrix(preds, target)
    # The fixture states torchmetrics' values to 4 decimals; pycocotools agrees to 1e-6.
    assert_allclose(got, vectors["expected_pairwise_iou"], atol=5e-5)
    assert_allclose(got, coco_mask.iou(_xywh(preds), _xywh(target), [0, 0, 0]), atol=1e-6)


def test_box_iou_of_records() -> None:
    # 49x50 overlap over 2 * 2500 - 2450: the agreement tests' one-pixel shift.
    assert box_iou(_box(10, 10, 60, 60), _box(11, 10, 61, 60)) == pytest.approx(2450 / 2550)
    assert box_iou(_box(0, 0, 10, 10), _box(0, 0, 10, 10)) == 1.0
    assert box_iou(_box(0, 0, 10, 10), _box(10, 0, 20, 10)) == 0.0  # touching edges
    assert box_iou(_box(5, 5, 5, 5), _box(5, 5, 5, 5)) == 0.0  # degenerate: empty union


def test_iou_matrix_shapes_for_empty_inputs_and_inputs_not_mutated() -> None:
    boxes = np.array([[0.0, 0.0, 10.0, 10.0]])
    before = boxes.copy()
    assert iou_matrix(boxes, []).shape == (1, 0)
    assert iou_matrix([], boxes).shape == (0, 1)
    assert iou_matrix(boxes, boxes * 2)[0, 0] == pytest.approx(0.25)
    assert_allclose(boxes, before)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        iou_matrix(np.zeros((2, 3)), boxes)


def test_agreement_none_when_both_empty_and_zero_when_one_sided() -> None:
    assert iou_agreement([], []) is None
    assert iou_agreement([_box(0, 0, 10, 10, "cup")], []) == 0.0
    assert iou_agreement([], [_box(0, 0, 10, 10, "cup"), _box(5, 5, 9, 9, "cup")]) == 0.0


def test_label_mismatch_is_a_disagreement() -> None:
    a = [_box(0, 0, 10, 10, "cat")]
    b = [_box(0, 0, 10, 10, "dog")]
    assert iou_agreement(a, b) == 0.0
    assert per_label_iou(a, b) == {"cat": 0.0, "dog": 0.0}


def test_per_label_tells_the_agreeing_label_from_the_disagreeing_one() -> None:
    a = [_box(10, 10, 60, 60, "cup"), _box(100, 20, 180, 90, "laptop")]
    b = [_box(25, 10, 75, 60, "cup"), _box(100, 20, 180, 90, "laptop")]
    per_label = per_label_iou(a, b)
    assert per_label["laptop"] == 1.0
    assert per_label["cup"] == pytest.approx(1750 / 3250)
    assert iou_agreement(a, b) == pytest.approx((1750 / 3250 + 1.0) / 2)


def test_unmatched_boxes_count_as_zero_over_the_larger_side() -> None:
    a = [_box(0, 0, 10, 10, "p"), _box(20, 0, 30, 10, "p"), _box(40, 0, 50, 10, "p")]
    b = [_box(0, 0, 10, 10, "p")]
    assert iou_agreement(a, b) == pytest.approx(1 / 3)
    assert iou_agreement(b, a) == pytest.approx(1 / 3)


def test_hungarian_beats_greedy_matching() -> None:
    # IoU: a1-b1 6/14, a1-b2 0, a2-b1 7/13 (the largest), a2-b2 6/14.
    a = [_box(0, 0, 10, 10, "x"), _box(7, 0, 17, 10, "x")]
    b = [_box(4, 0, 14, 10, "x"), _box(11, 0, 21, 10, "x")]
    matrix = iou_matrix(a, b)
    assert_allclose(matrix, [[6 / 14, 0.0], [7 / 13, 6 / 14]])
    greedy = (7 / 13 + 0.0) / 2  # takes a2-b1 first, leaving a1 with b2
    assert iou_agreement(a, b) == pytest.approx(6 / 14)
    assert iou_agreement(a, b) > greedy + 0.1
    assert [(i, j) for i, j, _ in match_boxes(a, b)] == [(0, 0), (1, 1)]


def test_boxes_on_different_images_do_not_match() -> None:
    a = [_box(0, 0, 10, 10, "p", image_index=0)]
    b = [_box(0, 0, 10, 10, "p", image_index=1)]
    assert iou_agreement(a, b) == 0.0
    assert iou_agreement(a + b, b + a) == 1.0
