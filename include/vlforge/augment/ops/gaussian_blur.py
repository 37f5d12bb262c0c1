"""gaussian_blur: Gaussian blur with ``sigma`` pixels (kernel size derived from sigma); no geometry."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, register, uniform


class GaussianBlurParams(RangeParams):
    sigma_range: tuple[float, float] = (0.5, 2.0)


@register
class GaussianBlur(Op):
    name = "gaussian_blur"
    Params = GaussianBlurParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"sigma": uniform(rng, self.params.sigma_range)}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        s = float(params["sigma"])
        return [build_transform(A.GaussianBlur, blur_limit=(0, 0), sigma_limit=(s, s), p=1.0)]
