"""horizontal_flip: mirror left to right; ``x' = W - x`` for box edges (x1 and x2 swap), y unchanged.

Spatial words in the conversation swap (see ``augment.text.swap_left_right``).
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from vlforge.augment.functional import build_transform
from vlforge.augment.ops.base import Op, OpParams, register


@register
class HorizontalFlip(Op):
    name = "horizontal_flip"
    Params = OpParams
    mirrors_horizontally = True

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        return [build_transform(A.HorizontalFlip, p=1.0)]
