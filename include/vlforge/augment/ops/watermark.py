"""watermark: a semi-transparent word stamped diagonally across the page; no geometry.

The word (``text``, e.g. "CONFIDENTIAL" / "样本") is drawn with Pillow in DejaVu Sans Bold or Noto
Sans CJK at ``size`` (a fraction of the image's shorter side), rotated by ``angle`` degrees about
its centre, placed at ``(cx, cy)`` (fractions of the image), then alpha-blended with ``opacity``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vlforge.augment.ops.base import Op, RangeParams, register, uniform
from vlforge.augment.targets import Targets

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


class WatermarkParams(RangeParams):
    texts: tuple[str, ...] = ("CONFIDENTIAL", "SAMPLE", "COPY", "样本", "副本")
    opacity_range: tuple[float, float] = (0.15, 0.4)
    size_range: tuple[float, float] = (0.08, 0.16)
    angle_range: tuple[float, float] = (-45.0, 45.0)
    centre_range: tuple[float, float] = (0.3, 0.7)


def _font(text: str, size: int) -> ImageFont.FreeTypeFont:
    ascii_only = all(ord(character) < 128 for character in text)
    return ImageFont.truetype(LATIN_FONT if ascii_only else CJK_FONT, size)


@register
class Watermark(Op):
    name = "watermark"
    Params = WatermarkParams

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        p = self.params
        return {
            "text": p.texts[int(rng.integers(0, len(p.texts)))],
            "opacity": uniform(rng, p.opacity_range),
            "size": uniform(rng, p.size_range),
            "angle": uniform(rng, p.angle_range),
            "cx": uniform(rng, p.centre_range),
            "cy": uniform(rng, p.centre_range),
            "grey": int(rng.integers(60, 200)),
        }

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        height, width = image.shape[:2]
        size = max(8, round(float(params["size"]) * min(width, height)))
        font = _font(params["text"], size)
        left, top, right, bottom = font.getbbox(params["text"])
        stamp = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(stamp).text((2 - left, 2 - top), params["text"], fill=255, font=font)
        stamp = stamp.rotate(float(params["angle"]), resample=Image.Resampling.BICUBIC, expand=True)
        mask = Image.new("L", (width, height), 0)
        mask.paste(stamp, (round(params["cx"] * width - stamp.width / 2), round(params["cy"] * height - stamp.height / 2)))
        alpha = np.asarray(mask, dtype=np.float64)[:, :, None] / 255.0 * float(params["opacity"])
        out = image.astype(np.float64) * (1 - alpha) + float(params["grey"]) * alpha
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), targets
