"""perspective: move each corner by up to ``scale`` of the image (albumentations ``Perspective``), same size.

The four corner offsets are drawn inside albumentations from ``aug_seed``; boxes become the
bounding box of their warped corners, clipped.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, draw_seed, register, uniform


class PerspectiveParams(RangeParams):
    scale_range: tuple[float, float] = (0.02, 0.08)


@register
class Perspective(Op):
    name = "perspective"
    Params = PerspectiveParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"scale": uniform(rng, self.params.scale_range), "aug_seed": draw_seed(rng)}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        s = float(params["scale"])
        return [
            build_transform(A.Perspective, scale=(s, s), keep_size=True, fit_output=False, border_mode=cv2.BORDER_CONSTANT, p=1.0)
        ]
