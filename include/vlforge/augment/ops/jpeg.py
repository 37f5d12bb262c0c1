"""jpeg: encode and decode as JPEG at ``quality`` (albumentations ``ImageCompression``); no geometry."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
from pydantic import model_validator

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, RangeParams, register


class JpegParams(RangeParams):
    quality_range: tuple[int, int] = (30, 90)

    @model_validator(mode="after")
    def _quality(self) -> JpegParams:
        if not (1 <= self.quality_range[0] and self.quality_range[1] <= 100):
            raise ValueError(f"quality_range = {self.quality_range}: must lie in [1, 100]")
        return self


@register
class Jpeg(Op):
    name = "jpeg"
    Params = JpegParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"quality": int(rng.integers(self.params.quality_range[0], self.params.quality_range[1] + 1))}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        q = int(params["quality"])
        return [build_transform(A.ImageCompression, compression_type="jpeg", quality_range=(q, q), p=1.0)]
