"""low_light: darker and flatter (``RandomBrightnessContrast`` with a negative shift), then gamma above 1.

``gamma`` is in albumentations' percent form: the image becomes ``img ** (gamma / 100)``. No geometry.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, register, uniform


class LowLightParams(RangeParams):
    brightness_range: tuple[float, float] = (-0.4, -0.1)
    contrast_range: tuple[float, float] = (-0.3, 0.0)
    gamma_range: tuple[float, float] = (120.0, 200.0)


@register
class LowLight(Op):
    name = "low_light"
    Params = LowLightParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "brightness": uniform(rng, p.brightness_range),
            "contrast": uniform(rng, p.contrast_range),
            "gamma": uniform(rng, p.gamma_range),
        }

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        b, c, g = float(params["brightness"]), float(params["contrast"]), float(params["gamma"])
        return [
            build_transform(A.RandomBrightnessContrast, brightness_limit=(b, b), contrast_limit=(c, c), p=1.0),
            build_transform(A.RandomGamma, gamma_limit=(g, g), p=1.0),
        ]
