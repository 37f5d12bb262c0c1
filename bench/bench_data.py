"""Benchmark data: a Label Studio export of ``rows`` tasks over ``images`` distinct real photographs.

The images are windows of the four colour photos in scikit-image's wheel (astronaut, coffee, chelsea,
rocket): each a different crop (40-90% of the photo's sides, at a seeded offset), resized to 320x240
and written as JPEG quality 92, so that they are real photographs, distinct files and not near
duplicates of one another at the pixel level. Task ``i`` shows image ``i % images`` with one box
(``rectanglelabels``, in Label Studio's percent) and one caption (``textarea``), as the demo export does.
"""

from __future__ import annotations

import json
from pathlib import Path

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
LABELS = ("subject", "object", "person", "thing")
SIZE = (320, 240)


def write_images(folder: Path, count: int, seed: int = 0) -> list[str]:
    """Write ``count`` distinct JPEG windows of the photos into ``folder``; returns their file names."""
    import cv2
    import numpy as np
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    photos = [cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR) for name in PHOTOS]
    rng = np.random.default_rng(seed)
    names = []
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        w, h = int(width * rng.uniform(0.4, 0.9)), int(height * rng.uniform(0.4, 0.9))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        window = cv2.resize(photo[y : y + h, x : x + w], SIZE, interpolation=cv2.INTER_AREA)
        name = f"img_{index:06d}.jpg"
        ok, buffer = cv2.imencode(".jpg", window, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok, name
        (folder / name).write_bytes(buffer.tobytes())
        names.append(name)
    return names


def write_label_studio_export(folder: Path, rows: int, images: int, seed: int = 0) -> Path:
    """``folder/images/*.jpg`` and ``folder/label_studio_export.json`` with ``rows`` tasks; returns the export's path."""
    names = write_images(folder / "images", images, seed)
    tasks = []
    for index in range(rows):
        label = LABELS[index % len(LABELS)]
        x, y = 10 + index % 30, 15 + index % 20
        tasks.append(
            {
                "id": index + 1,
                "data": {"image": f"/data/local-files/?d=images/{names[index % len(names)]}"},
                "annotations": [
                    {
                        "id": 100_000_000 + index,
                        "completed_by": 1,
                        "result": [
                            {
                                "id": f"b{index}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                                "original_width": SIZE[0], "original_height": SIZE[1], "image_rotation": 0,
                                "value": {"x": x, "y": y, "width": 40, "height": 50, "rotation": 0, "rectanglelabels": [label]},
                            },
                            {
                                "id": f"c{index}", "type": "textarea", "from_name": "caption", "to_name": "image",
                                "value": {"text": [f"A photograph with a {label} near the {('left', 'middle', 'right')[index % 3]}, item {index}."]},
                            },
                        ],
                    }
                ],
            }
        )  # fmt: skip
    export = folder / "label_studio_export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    return export
