"""random_erasing: black out ``num_holes`` rectangles of ``hole_height`` x ``hole_width`` (fractions of the image).

albumentations ``CoarseDropout`` places the holes (from ``aug_seed``) and drops every box whose
share left uncovered by the holes falls under ``min_visibility`` (``filter_bboxes_by_holes``);
the pipeline writes each dropped box to the lineage. A GUI point inside a hole is lost too.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
from pydantic import Field, model_validator

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, draw_seed, register, uniform


class RandomErasingParams(RangeParams):
    num_holes_range: tuple[int, int] = (1, 3)
    hole_size_range: tuple[float, float] = (0.05, 0.2)
    min_visibility: float = Field(0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _fractions(self) -> RandomErasingParams:
        # albumentations reads a hole size of 1.0 or more as pixels, not as a fraction
        if not (0.0 < self.hole_size_range[0] and self.hole_size_range[1] < 1.0):
            raise ValueError(f"hole_size_range = {self.hole_size_range}: fractions of the image in (0, 1)")
        if self.num_holes_range[0] < 1:
            raise ValueError(f"num_holes_range = {self.num_holes_range}: at least one hole")
        return self


@register
class RandomErasing(Op):
    name = "random_erasing"
    Params = RandomErasingParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        low, high = self.params.num_holes_range
        return {
            "num_holes": int(rng.integers(low, high + 1)),
            "hole_height": uniform(rng, self.params.hole_size_range),
            "hole_width": uniform(rng, self.params.hole_size_range),
            "aug_seed": draw_seed(rng),
        }

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        n, h, w = int(params["num_holes"]), float(params["hole_height"]), float(params["hole_width"])
        # fill as a float, as albumentations stores it, so build_transform can copy the transform
        holes = {"num_holes_range": (n, n), "hole_height_range": (h, h), "hole_width_range": (w, w)}
        return [build_transform(A.CoarseDropout, **holes, fill=0.0, p=1.0)]
