"""The new page ops move boxes exactly: resample by its scale, warp by its sine map."""

from __future__ import annotations

import numpy as np
import pytest

from vlforge.augment.ops import build_op
from vlforge.augment.ops.warp import warp_points
from vlforge.augment.targets import Targets
from vlforge.records import Box


def _targets() -> Targets:
    return Targets(width=200, height=100, boxes=(Box(x1=20, y1=10, x2=60, y2=30, label="a"),))


def test_resample_without_restore_scales_boxes_by_the_exact_size_ratio() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    out, targets = build_op("resample").apply(image, _targets(), {"scale": 0.5, "restore": False})
    assert out.shape == (50, 100, 3)
    assert targets.boxes[0] == Box(x1=10, y1=5, x2=30, y2=15, label="a")


def test_resample_with_restore_keeps_size_and_boxes() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    out, targets = build_op("resample").apply(image, _targets(), {"scale": 0.4, "restore": True})
    assert out.shape == image.shape and targets == _targets()


def test_warp_moves_a_dot_where_its_box_goes() -> None:
    params = {"amplitude_x": 0.03, "amplitude_y": 0.05, "period": 0.5, "phase_x": 0.4, "phase_y": 1.3}
    image = np.full((100, 200, 3), 255, np.uint8)
    image[40:44, 90:94] = 0  # a 4x4 dot: box (90, 40, 94, 44)
    targets = Targets(width=200, height=100, boxes=(Box(x1=90, y1=40, x2=94, y2=44),))
    out, moved = build_op("warp").apply(image, targets, params)
    dark = np.argwhere(out[:, :, 0] < 128)
    box = moved.boxes[0]
    # the dark pixels' extent lies within the moved box, to within remap's bilinear blur of one pixel
    assert dark[:, 1].min() >= box.x1 - 1 and dark[:, 1].max() + 1 <= box.x2 + 1
    assert dark[:, 0].min() >= box.y1 - 1 and dark[:, 0].max() + 1 <= box.y2 + 1
    cx, cy = warp_points(np.array([92.0]), np.array([42.0]), params, 200, 100)
    assert ((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2) == pytest.approx((cx[0], cy[0]), abs=0.3)
