"""color_jitter: brightness, contrast, saturation and hue factors (albumentations ``ColorJitter``); no geometry."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, draw_seed, register, uniform


class ColorJitterParams(RangeParams):
    brightness_range: tuple[float, float] = (0.8, 1.2)
    contrast_range: tuple[float, float] = (0.8, 1.2)
    saturation_range: tuple[float, float] = (0.8, 1.2)
    hue_range: tuple[float, float] = (-0.05, 0.05)


@register
class ColorJitter(Op):
    name = "color_jitter"
    Params = ColorJitterParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "brightness": uniform(rng, p.brightness_range),
            "contrast": uniform(rng, p.contrast_range),
            "saturation": uniform(rng, p.saturation_range),
            "hue": uniform(rng, p.hue_range),
            # fixes the order in which albumentations applies the four adjustments
            "aug_seed": draw_seed(rng),
        }

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        b, c, s, h = (float(params[k]) for k in ("brightness", "contrast", "saturation", "hue"))
        return [build_transform(A.ColorJitter, brightness=(b, b), contrast=(c, c), saturation=(s, s), hue=(h, h), p=1.0)]
