"""rotate: turn the image counter-clockwise by ``angle`` degrees (OpenCV's sign).

Multiples of 90 are exact pixel permutations that swap width and height: 90 is
``Transpose`` then ``VerticalFlip`` (as ``np.rot90(k=1)``: ``x' = y``, ``y' = W - x``), 180 is both
flips, 270 is ``Transpose`` then ``HorizontalFlip``. Any other angle is ``A.Rotate(limit=(a, a))``
keeping the size, corners filled with black; boxes become the bounding box of the rotated box
(``rotate_method="largest_box"``), clipped to the image.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, register, uniform


class RotateParams(RangeParams):
    angle_range: tuple[float, float] = (-10.0, 10.0)
    # When set, the angle is drawn from these values instead (e.g. [90, 180, 270] for exact turns).
    angles: tuple[float, ...] = ()


@register
class Rotate(Op):
    name = "rotate"
    Params = RotateParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.params.angles:
            angle = float(self.params.angles[int(rng.integers(0, len(self.params.angles)))])
        else:
            angle = uniform(rng, self.params.angle_range)
        return {"angle": angle}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        angle = float(params["angle"])
        turn = angle % 360.0
        if turn == 0.0:
            return [build_transform(A.NoOp, p=1.0)]
        if turn == 90.0:
            return [build_transform(A.Transpose, p=1.0), build_transform(A.VerticalFlip, p=1.0)]
        if turn == 180.0:
            return [build_transform(A.HorizontalFlip, p=1.0), build_transform(A.VerticalFlip, p=1.0)]
        if turn == 270.0:
            return [build_transform(A.Transpose, p=1.0), build_transform(A.HorizontalFlip, p=1.0)]
        return [
            build_transform(
                A.Rotate,
                limit=(angle, angle),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0.0,  # a float, as albumentations stores it, so build_transform can copy the transform
                rotate_method="largest_box",
                crop_border=False,
                p=1.0,
            )
        ]
