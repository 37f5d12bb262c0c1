"""Downscaling a sample whose images exceed a model's visual-token budget.

``vlforge.curate.tokens`` decides the size each image must shrink to for each model; a sample is
downscaled once, each image to the smallest of its models' sizes, so every model's budget holds.
The resized image is stored content-addressed (PNG: the same pixels give the same bytes), and
every box on it (objects, OCR lines, GUI targets and points) is scaled with it. A ``downscale``
lineage entry records the sizes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

from PIL import Image

from vlforge.records import Box, GuiAction, ImageRef, LineageOp, Sample
from vlforge.store import ImageStore

Size = tuple[int, int]


def smallest_sizes(resize_to: Mapping[str, tuple[Size, ...]]) -> tuple[Size, ...]:
    """Per image, the smallest ``(width, height)`` (by area) that any model asked for."""
    per_image = zip(*resize_to.values(), strict=True)
    return tuple(min(sizes, key=lambda size: (size[0] * size[1], size)) for sizes in per_image)


def downscale_sample(sample: Sample, sizes: tuple[Size, ...], store: ImageStore) -> Sample:
    """``sample`` with each image resized to ``sizes[i]`` and everything drawn on it scaled.

    Args:
        sample: a curated sample.
        sizes: one ``(width, height)`` per image of the sample.
        store: the content-addressed store holding the originals; the resized images go there too.

    Returns:
        The downscaled sample (a new image reference per resized image, same sample id).

    Raises:
        ValueError: naming the sample when ``sizes`` does not have one size per image.
    """
    if len(sizes) != len(sample.images):
        raise ValueError(f"sample {sample.sample_id}: {len(sizes)} sizes for {len(sample.images)} images")
    images, scales = [], []
    for image, (width, height) in zip(sample.images, sizes, strict=True):
        if (width, height) == (image.width, image.height):
            images.append(image)
            scales.append((1.0, 1.0))
            continue
        with Image.open(store.path_for(image.sha256, image.format)) as original:
            resized = original.resize((width, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        resized.save(buffer, format="PNG", optimize=False)
        images.append(ImageRef(sha256=store.put(buffer.getvalue(), "png"), width=width, height=height, format="png"))
        scales.append((width / image.width, height / image.height))

    def scaled(box: Box) -> Box:
        sx, sy = scales[box.image_index]
        return box.model_copy(update={"x1": box.x1 * sx, "y1": box.y1 * sy, "x2": box.x2 * sx, "y2": box.y2 * sy})

    def scaled_action(action: GuiAction) -> GuiAction:
        sx, sy = scales[0]  # a GUI action acts on the screenshot, the first image
        point = (action.point[0] * sx, action.point[1] * sy) if action.point else None
        return action.model_copy(update={"box": scaled(action.box) if action.box else None, "point": point})

    record = {"from": [[image.width, image.height] for image in sample.images], "to": [list(size) for size in sizes]}
    return sample.model_copy(
        update={
            "images": tuple(images),
            "boxes": tuple(scaled(box) for box in sample.boxes),
            "ocr_lines": tuple(
                line.model_copy(update={"box": scaled(line.box)}) if line.box else line for line in sample.ocr_lines
            ),
            "actions": tuple(scaled_action(action) for action in sample.actions),
            "lineage": (*sample.lineage, LineageOp(op="downscale", params_json=json.dumps(record, sort_keys=True))),
        }
    )

