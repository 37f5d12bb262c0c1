"""Box coordinate conventions: every conversion in and out of vlforge's absolute ``x1, y1, x2, y2``.

Each function is pure and names the convention it reads or writes, so that the
one place that knows a format's coordinate rule is easy to find and to test.
"""

from __future__ import annotations

import math

XYXY = tuple[float, float, float, float]


def label_studio_percent_to_xyxy(x: float, y: float, width: float, height: float, image_w: int, image_h: int) -> XYXY:
    """Label Studio stores a rectangle's top-left corner and size in percent of the image."""
    x1 = x / 100.0 * image_w
    y1 = y / 100.0 * image_h
    return (x1, y1, x1 + width / 100.0 * image_w, y1 + height / 100.0 * image_h)


def xyxy_to_label_studio_percent(box: XYXY, image_w: int, image_h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (x1 / image_w * 100.0, y1 / image_h * 100.0, (x2 - x1) / image_w * 100.0, (y2 - y1) / image_h * 100.0)


def coco_xywh_to_xyxy(x: float, y: float, width: float, height: float) -> XYXY:
    """COCO ``bbox`` is ``[x, y, width, height]`` in absolute pixels."""
    return (x, y, x + width, y + height)


def yolo_cxcywh_to_xyxy(cx: float, cy: float, width: float, height: float, image_w: int, image_h: int) -> XYXY:
    """YOLO stores the box centre and size as fractions of the image."""
    half_w = width * image_w / 2.0
    half_h = height * image_h / 2.0
    return (cx * image_w - half_w, cy * image_h - half_h, cx * image_w + half_w, cy * image_h + half_h)


def xyxy_to_qwen_vl_1000(box: XYXY, image_w: int, image_h: int) -> tuple[int, int, int, int]:
    """Qwen-VL (first generation) normalises coordinates to integers in ``[0, 1000)``."""
    x1, y1, x2, y2 = box
    return (
        _scale_floor(x1, image_w),
        _scale_floor(y1, image_h),
        _scale_floor(x2, image_w),
        _scale_floor(y2, image_h),
    )


def _scale_floor(value: float, size: int) -> int:
    return min(999, max(0, int(math.floor(value / size * 1000))))


def xyxy_to_relative_1000(box: XYXY, image_w: int, image_h: int) -> tuple[int, int, int, int]:
    """Qwen2-VL and Qwen3-VL ``bbox_2d``: ``round(v / size * 1000)`` clamped to ``[0, 1000]``.

    The expression is evaluated in the order of the official ``tools/process_bbox.ipynb``,
    so that float ties (``203 / 400 * 1000 == 507.49999999999994``) round the same way.
    """
    x1, y1, x2, y2 = box
    return (_relative(x1, image_w), _relative(y1, image_h), _relative(x2, image_w), _relative(y2, image_h))


def _relative(value: float, size: int) -> int:
    return min(1000, max(0, round(value / size * 1000)))


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = 4 * 28 * 28, max_pixels: int = 16384 * 28 * 28
) -> tuple[int, int]:
    """The size a Qwen2-VL/Qwen2.5-VL/Qwen3-VL processor resizes an image to (``qwen_vl_utils.smart_resize``).

    Both sides become multiples of ``factor`` (28 for Qwen2/2.5-VL, 32 for
    Qwen3-VL), the aspect ratio is kept as closely as possible and the area is
    brought within ``[min_pixels, max_pixels]``.

    Returns:
        ``(new_height, new_width)``.
    """
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}x{height} exceeds 200, which Qwen-VL processors reject")
    new_h = max(factor, round(height / factor) * factor)
    new_w = max(factor, round(width / factor) * factor)
    if new_h * new_w > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        new_h = max(factor, math.floor(height / beta / factor) * factor)
        new_w = max(factor, math.floor(width / beta / factor) * factor)
    elif new_h * new_w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * beta / factor) * factor
        new_w = math.ceil(width * beta / factor) * factor
    return new_h, new_w


def xyxy_to_resized_absolute(
    box: XYXY, image_w: int, image_h: int, resized_w: int, resized_h: int
) -> tuple[int, int, int, int]:
    """Qwen2.5-VL ``bbox_2d``: absolute pixels on the smart-resized image.

    As in the official ``tools/process_bbox.ipynb``: ``round(v * (new / old))``, clamped to the
    pixel indices of the resized image, ``[0, new - 1]``.
    """
    x1, y1, x2, y2 = box
    scale_w = resized_w / image_w
    scale_h = resized_h / image_h
    return (
        _scaled(x1, scale_w, resized_w),
        _scaled(y1, scale_h, resized_h),
        _scaled(x2, scale_w, resized_w),
        _scaled(y2, scale_h, resized_h),
    )


def _scaled(value: float, scale: float, resized: int) -> int:
    return min(resized - 1, max(0, round(value * scale)))


def relative_1000_to_xyxy(box: XYXY, image_w: int, image_h: int) -> XYXY:
    """Qwen-VL ``<box>``, Qwen2-VL and Qwen3-VL: ``0..1000`` of the image -> absolute pixels.

    ``x = v / 1000 * image_w`` (and likewise for y); the inverse of
    ``xyxy_to_relative_1000`` and ``xyxy_to_qwen_vl_1000`` up to their rounding.
    """
    x1, y1, x2, y2 = box
    return (x1 / 1000.0 * image_w, y1 / 1000.0 * image_h, x2 / 1000.0 * image_w, y2 / 1000.0 * image_h)


def resized_absolute_to_xyxy(box: XYXY, image_w: int, image_h: int, resized_w: int, resized_h: int) -> XYXY:
    """Qwen2.5-VL ``bbox_2d``: pixels of the smart-resized image -> pixels of the original image.

    ``x = v * image_w / resized_w`` (and likewise for y); the inverse of
    ``xyxy_to_resized_absolute`` up to its rounding.
    """
    x1, y1, x2, y2 = box
    sx, sy = image_w / resized_w, image_h / resized_h
    return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
