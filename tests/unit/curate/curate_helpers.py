"""Curate test helpers: fixture paths, re-encoded copies, photo-like stand-ins and a sample factory."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from vlforge.records import Box, ImageRef, Sample, Source, Turn

YOLO_IMAGES = Path("label_studio_converter/tests/data/test_import_yolo_data_unif_dims/images")
SKIMAGE = Path("images_from_wheels/skimage")
COCO_PHOTO = Path("qwen3vl_finetune/demo/images/COCO_train2014_000000580957.jpg")  # 640x428
PHONE_SCREEN = Path("qwen25vl_cookbook_gui/assets/agent_function_call/mobile_en_example.png")  # 1080x2400


def reencoded(path: Path, scale: float = 0.5, quality: int = 60) -> bytes:
    """The photo at ``path`` resized by ``scale`` and saved again as JPEG at ``quality``."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        size = (round(rgb.width * scale), round(rgb.height * scale))
        buffer = io.BytesIO()
        rgb.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def smooth_random_image(rng: np.random.Generator, size: int = 96) -> Image.Image:
    """A photo-like stand-in: 8x8 random colours upscaled bicubically (pHash sees only low frequencies)."""
    coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_sample(
    sample_id: str,
    images: tuple[ImageRef, ...] = (),
    answer: str | None = "A photo.",
    question: str = "Describe this image.",
    **fields: object,
) -> Sample:
    """A caption sample (one user/assistant pair) unless ``answer`` is None (then no conversation)."""
    turns: tuple[Turn, ...] = ()
    if answer is not None:
        turns = (Turn(role="user", content="<image>" * len(images) + "\n" + question), Turn(role="assistant", content=answer))
    defaults: dict[str, object] = {"task_type": "caption", "conversations": turns}
    return Sample(
        sample_id=sample_id,
        images=images,
        source=Source(file="export.json", record_id=f"rec-{sample_id}"),
        **(defaults | fields),
    )


def boxes(*labels: str) -> tuple[Box, ...]:
    return tuple(Box(x1=1.0 + index, y1=1.0, x2=20.0 + index, y2=20.0, label=label) for index, label in enumerate(labels))
