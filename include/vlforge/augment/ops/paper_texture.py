"""paper_texture: fibre-like low-frequency texture and a paper tint multiplied into the page; no geometry.

The texture is white noise from ``texture_seed`` (its own ``numpy`` generator), blurred with
``cv2.GaussianBlur`` at sigma ``grain`` px and scaled to ``1 - depth .. 1``; the tint multiplies
each channel by ``(1, 1 - tint / 2, 1 - tint)`` (warm, yellowed paper).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vlforge.augment.ops.base import Op, RangeParams, draw_seed, register, uniform
from vlforge.augment.targets import Targets


class PaperTextureParams(RangeParams):
    depth_range: tuple[float, float] = (0.05, 0.2)
    grain_range: tuple[float, float] = (1.0, 4.0)
    tint_range: tuple[float, float] = (0.0, 0.12)


@register
class PaperTexture(Op):
    name = "paper_texture"
    Params = PaperTextureParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "depth": uniform(rng, p.depth_range),
            "grain": uniform(rng, p.grain_range),
            "tint": uniform(rng, p.tint_range),
            "texture_seed": draw_seed(rng),
        }

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        height, width = image.shape[:2]
        noise = np.random.default_rng(int(params["texture_seed"])).random((height, width))
        noise = cv2.GaussianBlur(noise, (0, 0), float(params["grain"]))
        span = float(noise.max() - noise.min())
        texture = (noise - noise.min()) / span if span > 0 else np.zeros_like(noise)
        factor = 1.0 - float(params["depth"]) * texture
        tint = float(params["tint"])
        out = image.astype(np.float64) * factor[:, :, None] * np.array([1.0, 1.0 - tint / 2, 1.0 - tint])
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), targets
