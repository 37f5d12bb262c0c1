"""warp: a wavy page, two sine displacements applied one after the other, boxes moved by the same map.

A point ``(x, y)`` goes to ``x' = x + ax * sin(2 pi y / period + phase_x)`` and then
``y' = y + ay * sin(2 pi x' / period + phase_y)``, amplitudes ``ax, ay`` and ``period`` in pixels
(fractions of the image size in the params). Each pass shifts along one axis by an amount that
depends only on the other coordinate, so ``cv2.remap`` can apply its exact inverse
(``x = x' - ax * sin(...)``) and no pixel is folded. A box becomes the bounding box of its warped
outline (``functional.map_targets``), clipped to the image. Box coordinates put pixel ``i``'s
centre at ``i + 0.5``, so the sines are evaluated at ``y - 0.5`` and ``x' - 0.5``, where remap's
pixel indices are.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from vlforge.augment.ops.base import Op, RangeParams, register, uniform
from vlforge.augment.targets import Targets
from vlforge.augment.functional import map_targets


class WarpParams(RangeParams):
    amplitude_range: tuple[float, float] = (0.002, 0.012)
    period_range: tuple[float, float] = (0.3, 0.9)


def warp_points(xs: np.ndarray, ys: np.ndarray, params: dict[str, Any], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The forward map of points (see the module docstring)."""
    ax, ay = params["amplitude_x"] * width, params["amplitude_y"] * height
    period = params["period"] * max(width, height)
    # cv2.remap works on pixel indices, whose centres are at +0.5 in box coordinates
    new_x = xs + ax * np.sin(2 * math.pi * (ys - 0.5) / period + params["phase_x"])
    new_y = ys + ay * np.sin(2 * math.pi * (new_x - 0.5) / period + params["phase_y"])
    return new_x, new_y


@register
class Warp(Op):
    name = "warp"
    Params = WarpParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "amplitude_x": uniform(rng, p.amplitude_range),
            "amplitude_y": uniform(rng, p.amplitude_range),
            "period": uniform(rng, p.period_range),
            "phase_x": uniform(rng, (0.0, 2 * math.pi)),
            "phase_y": uniform(rng, (0.0, 2 * math.pi)),
        }

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        height, width = image.shape[:2]
        ax, ay = params["amplitude_x"] * width, params["amplitude_y"] * height
        period = params["period"] * max(width, height)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        # pass 1 moves x by a function of y; pass 2 moves y by a function of the new x
        map_x = (xs - ax * np.sin(2 * math.pi * ys / period + params["phase_x"])).astype(np.float32)
        first = cv2.remap(image, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        map_y = (ys - ay * np.sin(2 * math.pi * xs / period + params["phase_y"])).astype(np.float32)
        out = cv2.remap(first, xs, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out, map_targets(
            targets, width, height, lambda x, y: warp_points(x, y, params, width, height), self.name, self.params.min_visibility
        )
