"""ocr_degradation: a scanned-page look: small shear and rotation, a light blur, a shadow across the lines.

Geometry is ``A.Affine(shear=sx, rotate=r)`` about the centre, keeping the size, borders filled
white (paper); boxes become the bounding box of their sheared corners. Then ``GaussianBlur`` with
``blur_sigma`` and ``functional.shadow_gradient`` (factor ``1 - strength * t`` along
``shadow_angle``), so text lines run from full light into shadow.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from vlforge.augment.functional import build_transform, shadow_gradient
from vlforge.augment.ops.base import Op, RangeParams, register, uniform
from vlforge.augment.targets import Targets


class OcrDegradationParams(RangeParams):
    shear_range: tuple[float, float] = (-6.0, 6.0)
    rotate_range: tuple[float, float] = (-2.0, 2.0)
    blur_sigma_range: tuple[float, float] = (0.3, 1.0)
    shadow_strength_range: tuple[float, float] = (0.2, 0.5)
    shadow_angle_range: tuple[float, float] = (0.0, 360.0)


@register
class OcrDegradation(Op):
    name = "ocr_degradation"
    Params = OcrDegradationParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "shear": uniform(rng, p.shear_range),
            "rotate": uniform(rng, p.rotate_range),
            "blur_sigma": uniform(rng, p.blur_sigma_range),
            "shadow_strength": uniform(rng, p.shadow_strength_range),
            "shadow_angle": uniform(rng, p.shadow_angle_range),
        }

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        sx, r, sigma = float(params["shear"]), float(params["rotate"]), float(params["blur_sigma"])
        return [
            build_transform(
                A.Affine,
                shear={"x": (sx, sx), "y": (0.0, 0.0)},
                rotate=(r, r),
                # scale and fill as albumentations stores them (a dict, a float), so build_transform can copy the transform
                scale={"x": (1.0, 1.0), "y": (1.0, 1.0)},
                border_mode=cv2.BORDER_CONSTANT,
                fill=255.0,
                p=1.0,
            ),
            build_transform(A.GaussianBlur, blur_limit=(0, 0), sigma_limit=(sigma, sigma), p=1.0),
        ]

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        out, moved = super().apply(image, targets, params)
        return shadow_gradient(out, float(params["shadow_angle"]), float(params["shadow_strength"])), moved
