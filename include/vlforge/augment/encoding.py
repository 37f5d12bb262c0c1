"""How an augmented copy's image is written: a format and its quality or compression level, per task type.

Encoding dominates the augment stage: on a 0.2-0.3 MP photo, PNG at compression 6 costs about
35 ms, JPEG at quality 95 about 1.5 ms, while the ops themselves cost a few ms (ADR 0010). So the
recipe's ``augment.encoding`` picks, per task type:

- photos (``caption``, ``vqa``, ``grounding``, ``video_event``): JPEG quality 95 by default, which a
  vision-language model trains on as it would on the original photos (themselves JPEG);
- OCR pages and GUI screens (``ocr``, ``gui_action``): lossless PNG at compression 1 by default,
  where text edges and one-pixel lines must survive exactly; level 1 costs about 7% more bytes than
  level 6 and is about 3x faster.

An encoding is recorded in the copy's lineage (the ``parent`` entry's ``encoding``), so replay writes
the same bytes whatever the recipe says today. Lineage written before the encoding was recorded was
PNG at compression 6: ``LEGACY_ENCODING``. Ingest never re-encodes: parents keep their original bytes.

OpenCV is imported when an image is encoded, not when a recipe loads.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

ImageFormat = Literal["jpeg", "webp", "png"]
EXTENSIONS: dict[str, str] = {"jpeg": "jpg", "webp": "webp", "png": "png"}
# Lossy formats take a quality (1-100), PNG a zlib compression level (0-9); an omitted one takes these.
DEFAULT_QUALITY: dict[str, int] = {"jpeg": 95, "webp": 90}
DEFAULT_PNG_COMPRESSION = 1


class ImageEncoding(BaseModel):
    """One image encoding: ``format`` with ``quality`` (JPEG, WebP: 1-100) or ``compression`` (PNG: 0-9).

    JPEG is baseline, not optimised, 4:2:0 chroma; WebP is lossy; PNG is lossless at any level.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: ImageFormat
    quality: int | None = Field(None, ge=1, le=100, description="JPEG and WebP quality (default 95 and 90).")
    compression: int | None = Field(None, ge=0, le=9, description="PNG zlib level (default 1).")

    @model_validator(mode="before")
    @classmethod
    def _fill_default_level(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        fmt = values.get("format")
        if fmt == "png":
            if values.get("quality") is not None:
                raise ValueError(f"png is lossless: it takes compression (0-9), not quality {values['quality']!r}")
            values.setdefault("compression", DEFAULT_PNG_COMPRESSION)
            if values["compression"] is None:
                values["compression"] = DEFAULT_PNG_COMPRESSION
        elif fmt in DEFAULT_QUALITY:
            if values.get("compression") is not None:
                raise ValueError(f"{fmt} takes quality (1-100), not compression {values['compression']!r}")
            if values.get("quality") is None:
                values["quality"] = DEFAULT_QUALITY[fmt]
        return values

    @property
    def extension(self) -> str:
        """The file extension in the image store (``jpg``, ``webp``, ``png``)."""
        return EXTENSIONS[self.format]

    def recorded(self) -> dict[str, Any]:
        """The encoding as the lineage records it: ``{"format", "quality"}`` or ``{"format", "compression"}``."""
        return self.model_dump(exclude_none=True)

    def encode(self, image: np.ndarray) -> bytes:
        """RGB uint8 array -> file bytes; the same array and encoding always give the same bytes.

        Raises:
            ValueError: when OpenCV cannot encode the array.
        """
        import cv2

        if self.format == "png":
            suffix, flags = ".png", [cv2.IMWRITE_PNG_COMPRESSION, int(self.compression or 0)]
        elif self.format == "jpeg":
            suffix = ".jpg"
            flags = [
                cv2.IMWRITE_JPEG_QUALITY, int(self.quality or 0),
                cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                cv2.IMWRITE_JPEG_PROGRESSIVE, 0,
                cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
            ]  # fmt: skip
        else:
            suffix, flags = ".webp", [cv2.IMWRITE_WEBP_QUALITY, int(self.quality or 0)]
        ok, buffer = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), flags)
        if not ok:
            raise ValueError(f"{self.format} encoding ({self.recorded()}) failed for an image of shape {image.shape}")
        return buffer.tobytes()


PHOTO = ImageEncoding(format="jpeg", quality=95)
TEXT_EDGES = ImageEncoding(format="png", compression=DEFAULT_PNG_COMPRESSION)
# What the augment stage wrote before encodings were per task type, and what replay assumes for
# lineage that records none.
LEGACY_ENCODING = ImageEncoding(format="png", compression=6)
DEFAULT_ENCODINGS: dict[str, ImageEncoding] = {
    "caption": PHOTO,
    "vqa": PHOTO,
    "grounding": PHOTO,
    "video_event": PHOTO,
    "ocr": TEXT_EDGES,
    "gui_action": TEXT_EDGES,
}


def recorded_encoding(parent_info: dict[str, Any]) -> ImageEncoding:
    """The encoding a lineage ``parent`` entry records; ``LEGACY_ENCODING`` for lineage from before it was recorded."""
    recorded = parent_info.get("encoding")
    return LEGACY_ENCODING if recorded is None else ImageEncoding(**recorded)
