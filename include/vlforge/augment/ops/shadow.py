"""shadow: a linear shadow across the page (``functional.shadow_gradient``); no geometry.

The factor at a pixel is ``1 - strength * t``, ``t`` its position in ``[0, 1]`` along ``angle``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlforge.augment.functional import shadow_gradient
from vlforge.augment.ops.base import Op, RangeParams, register, uniform
from vlforge.augment.targets import Targets


class ShadowParams(RangeParams):
    strength_range: tuple[float, float] = (0.2, 0.6)
    angle_range: tuple[float, float] = (0.0, 360.0)


@register
class Shadow(Op):
    name = "shadow"
    Params = ShadowParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"strength": uniform(rng, self.params.strength_range), "angle": uniform(rng, self.params.angle_range)}

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        return shadow_gradient(image, float(params["angle"]), float(params["strength"])), targets
