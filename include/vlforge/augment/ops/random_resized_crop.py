"""random_resized_crop: cut a window and scale it back to the input size.

The window (``functional.crop_window``) is ``x0..x1`` by ``y0..y1`` pixels; a box maps to
``x' = (clip(x, x0, x1) - x0) * W / (x1 - x0)`` (likewise y). A box whose visible share falls under
``min_visibility`` is lost. ``ratio_range`` distorts the window's aspect relative to the image's.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
from pydantic import Field, model_validator

from vlforge.augment.functional import build_transform, crop_fractions, crop_window
from vlforge.augment.ops.base import Op, RangeParams, register, uniform


class RandomResizedCropParams(RangeParams):
    scale_range: tuple[float, float] = (0.5, 1.0)
    ratio_range: tuple[float, float] = (0.75, 1.3333333333333333)
    min_visibility: float = Field(0.3, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _valid(self) -> RandomResizedCropParams:
        if not (0.0 < self.scale_range[0] and self.scale_range[1] <= 1.0):
            raise ValueError(f"scale_range = {self.scale_range}: must lie in (0, 1]")
        if self.ratio_range[0] <= 0:
            raise ValueError(f"ratio_range = {self.ratio_range}: must be positive")
        return self


@register
class RandomResizedCrop(Op):
    name = "random_resized_crop"
    Params = RandomResizedCropParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        scale = uniform(rng, p.scale_range)
        log_ratio = uniform(rng, (float(np.log(p.ratio_range[0])), float(np.log(p.ratio_range[1]))))
        x, y, w, h = crop_fractions(scale, float(np.exp(log_ratio)), float(rng.random()), float(rng.random()))
        return {"x_min_frac": x, "y_min_frac": y, "width_frac": w, "height_frac": h}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        x0, y0, x1, y1 = crop_window(
            width, height, params["x_min_frac"], params["y_min_frac"], params["width_frac"], params["height_frac"]
        )
        return [
            build_transform(A.Crop, x_min=x0, y_min=y0, x_max=x1, y_max=y1, p=1.0),
            build_transform(A.Resize, height=height, width=width, p=1.0),
        ]
