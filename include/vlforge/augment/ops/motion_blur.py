"""motion_blur: a straight-line blur of ``kernel`` pixels at ``angle`` degrees, centred; no geometry."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
from pydantic import model_validator

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, odd_int, register, uniform


class MotionBlurParams(RangeParams):
    kernel_range: tuple[int, int] = (3, 9)
    angle_range: tuple[float, float] = (0.0, 360.0)

    @model_validator(mode="after")
    def _valid(self) -> MotionBlurParams:
        if self.kernel_range[0] < 3 or self.kernel_range[0] % 2 == 0 or self.kernel_range[1] % 2 == 0:
            raise ValueError(f"kernel_range = {self.kernel_range}: both ends must be odd and at least 3")
        return self


@register
class MotionBlur(Op):
    name = "motion_blur"
    Params = MotionBlurParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"kernel": odd_int(rng, self.params.kernel_range), "angle": uniform(rng, self.params.angle_range)}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        k, a = int(params["kernel"]), float(params["angle"])
        return [
            build_transform(
                A.MotionBlur, blur_limit=(k, k), angle_range=(a, a), direction_range=(0.0, 0.0), allow_shifted=False, p=1.0
            )
        ]
