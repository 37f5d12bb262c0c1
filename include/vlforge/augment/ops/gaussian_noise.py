"""gaussian_noise: add zero-mean noise with standard deviation ``std`` (a fraction of 255); no geometry."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, draw_seed, register, uniform


class GaussianNoiseParams(RangeParams):
    std_range: tuple[float, float] = (0.02, 0.08)


@register
class GaussianNoise(Op):
    name = "gaussian_noise"
    Params = GaussianNoiseParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"std": uniform(rng, self.params.std_range), "aug_seed": draw_seed(rng)}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        s = float(params["std"])
        return [build_transform(A.GaussNoise, std_range=(s, s), mean_range=(0.0, 0.0), per_channel=True, p=1.0)]
