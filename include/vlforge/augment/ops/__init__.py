"""The augmentation op registry: one op per file, registered under the file's name.

``REGISTRY`` maps a name to its class, ``register`` adds one, ``build_op(name, params)`` makes one
and lists the known names when asked for an unknown one.
"""

from __future__ import annotations

from vlforge.augment.functional import load_albumentations

load_albumentations()  # before any op imports albumentations: without torch (see there)

from vlforge.augment.ops import (  # noqa: F401  (importing registers them)
    color_jitter,
    gaussian_blur,
    gaussian_noise,
    horizontal_flip,
    jpeg,
    low_light,
    motion_blur,
    ocr_degradation,
    paper_texture,
    perspective,
    random_erasing,
    random_resized_crop,
    resample,
    rotate,
    shadow,
    warp,
    watermark,
)
from vlforge.augment.ops.base import REGISTRY, Op, OpParams, build_op, op_class, register

__all__ = ["REGISTRY", "Op", "OpParams", "build_op", "op_class", "register"]
