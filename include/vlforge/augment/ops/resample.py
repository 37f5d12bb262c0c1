"""resample: down-sample to ``scale`` of the size (area interpolation), optionally back up (cubic).

Boxes and points move exactly with the size: with ``sx = new_w / w`` and ``sy = new_h / h``,
``x -> x * sx``, ``y -> y * sy``. When ``restore`` is set the image returns to its size and the
boxes stay where they were: only the detail is lost, as in a low-resolution scan printed large.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vlforge.augment.ops.base import Op, RangeParams, register, uniform
from vlforge.augment.targets import Targets
from vlforge.augment.functional import map_targets


class ResampleParams(RangeParams):
    scale_range: tuple[float, float] = (0.35, 0.75)
    restore_probability: float = 0.5


@register
class Resample(Op):
    name = "resample"
    Params = ResampleParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {
            "scale": uniform(rng, self.params.scale_range),
            "restore": bool(rng.random() < self.params.restore_probability),
        }

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        height, width = image.shape[:2]
        new_w = max(1, round(width * float(params["scale"])))
        new_h = max(1, round(height * float(params["scale"])))
        small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        if params["restore"]:
            return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), targets
        sx, sy = new_w / width, new_h / height
        return small, map_targets(targets, new_w, new_h, lambda xs, ys: (xs * sx, ys * sy), self.name, self.params.min_visibility)
