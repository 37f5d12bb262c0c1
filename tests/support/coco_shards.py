"""A small COCO dataset drawn from a seeded generator: as many samples as a scale-out run needs, in small images.

Each image is a noisy background with one filled rectangle of a random colour, size and place; its
COCO annotation is that rectangle, labelled by its shape (``wide``, ``tall`` or ``square``). The
images differ enough that curation's near-duplicate check keeps every one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_coco_dataset(folder: Path, samples: int, seed: int, width: int = 128, height: int = 96) -> Path:
    """Write ``samples`` PNG images and their COCO file ``annotations.json`` into ``folder``.

    Args:
        folder: where the images and the COCO file go (created).
        samples: how many images, one grounding sample each.
        seed: seeds the generator that draws every pixel and box.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        The COCO file's path (ingest it with ``source_format: coco``; images resolve next to it).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    categories = {"wide": 1, "tall": 2, "square": 3}
    images, annotations = [], []
    for index in range(samples):
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        box_w, box_h = int(rng.integers(width // 5, width // 2)), int(rng.integers(height // 5, height // 2))
        x, y = int(rng.integers(0, width - box_w)), int(rng.integers(0, height - box_h))
        pixels[y : y + box_h, x : x + box_w] = rng.integers(0, 256, size=3, dtype=np.uint8)
        name = f"image_{index:05d}.png"
        Image.fromarray(pixels).save(folder / name)
        shape = "wide" if box_w > 1.2 * box_h else "tall" if box_h > 1.2 * box_w else "square"
        images.append({"id": index + 1, "file_name": name, "width": width, "height": height})
        annotations.append(
            {"id": index + 1, "image_id": index + 1, "category_id": categories[shape], "bbox": [x, y, box_w, box_h],
             "area": box_w * box_h, "iscrowd": 0}
        )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": number, "name": name} for name, number in categories.items()],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(coco, indent=1), encoding="utf-8")
    return path
