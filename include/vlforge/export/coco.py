"""COCO: ``instances_<dataset>.json`` (boxes) and ``captions_<dataset>.json`` (captions).

Both files have the COCO layout that pycocotools and Datumaro read (``licenses``, ``info``,
``categories``, ``images``, ``annotations``) and list every image of the release, as COCO's
own ``instances_train2017.json`` and ``captions_train2017.json`` do.

- ``images``: one entry per distinct image, ids ``1..N`` in order of first appearance;
  ``file_name`` is the store name ``<sha256>.<ext>``, found in ``info.images_dir`` (``../../images``).
- ``categories``: one per box label, ids ``1..K`` in sorted label order.
- instance ``annotations``: one per box of ``sample.boxes``, ids ``1..M`` in sample order;
  ``bbox`` is COCO's ``[x, y, width, height]`` in absolute pixels, ``area = width * height``,
  ``iscrowd`` 0 and ``segmentation`` empty (a box has no mask), as Datumaro writes boxes.
- caption ``annotations``: the assistant answers of ``caption`` samples with exactly one image,
  ``category_id`` 0 as in Datumaro's captions.

Ids are a function of the samples' order, so the same release gives the same ids.
COCO has no videos: a video sample is refused (``export_all`` skips it).
"""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.render import IMAGE_PREFIX, ExportError, refuse_videos
from vlforge.records import Box, ImageRef, Sample
from vlforge.store import atomic_write_text

DIGITS = 3  # COCO coordinates are floats; a thousandth of a pixel keeps float noise out of the file


def xyxy_to_coco_xywh(box: Box) -> list[float]:
    """vlforge ``x1, y1, x2, y2`` -> COCO ``[x, y, width, height]`` (the inverse of ``geometry.coco_xywh_to_xyxy``)."""
    return [round(box.x1, DIGITS), round(box.y1, DIGITS), round(box.x2 - box.x1, DIGITS), round(box.y2 - box.y1, DIGITS)]


def _header(dataset: str) -> dict[str, object]:
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {
            "contributor": "",
            "date_created": "",
            "description": f"vlforge release of {dataset}",
            "url": "",
            "version": "",
            "year": "",
            "images_dir": IMAGE_PREFIX,
        },
    }


def image_ids(samples: list[Sample]) -> dict[str, int]:
    """Image ``sha256`` -> COCO id, ``1..N`` in order of first appearance."""
    ids: dict[str, int] = {}
    for sample in samples:
        for image in sample.images:
            ids.setdefault(image.sha256, len(ids) + 1)
    return ids


def _images(samples: list[Sample], ids: dict[str, int]) -> list[dict[str, object]]:
    seen: dict[str, ImageRef] = {}
    for sample in samples:
        for image in sample.images:
            seen.setdefault(image.sha256, image)
    return [
        {
            "id": ids[sha],
            "width": image.width,
            "height": image.height,
            "file_name": image.file_name,
            "license": 0,
            "flickr_url": "",
            "coco_url": "",
            "date_captured": 0,
        }
        for sha, image in seen.items()
    ]


def instances(samples: list[Sample], dataset: str) -> dict[str, object]:
    """The instances file: every labelled box of every sample."""
    ids = image_ids(samples)
    labels = sorted({box.label for sample in samples for box in sample.boxes})
    categories = {label: index for index, label in enumerate(labels, start=1)}
    annotations = []
    for sample in samples:
        for box in sample.boxes:
            if not box.label:
                raise ExportError(f"sample {sample.sample_id}: a box without a label has no COCO category")
            if not 0 <= box.image_index < len(sample.images):
                raise ExportError(
                    f"sample {sample.sample_id}: box {box.label!r} is on image_index {box.image_index}, "
                    f"but the sample has {len(sample.images)} images"
                )
            bbox = xyxy_to_coco_xywh(box)
            if bbox[2] <= 0 or bbox[3] <= 0:
                raise ExportError(f"sample {sample.sample_id}: box {box.label!r} has width or height <= 0: {bbox}")
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": ids[sample.images[box.image_index].sha256],
                    "category_id": categories[box.label],
                    "segmentation": [],
                    "area": round(bbox[2] * bbox[3], DIGITS),
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
    return _header(dataset) | {
        "categories": [{"id": index, "name": label, "supercategory": ""} for label, index in categories.items()],
        "images": _images(samples, ids),
        "annotations": annotations,
    }


def captions(samples: list[Sample], dataset: str) -> dict[str, object]:
    """The captions file: the assistant answers of single-image caption samples."""
    ids = image_ids(samples)
    annotations = []
    for sample in samples:
        if sample.task_type != "caption" or len(sample.images) != 1:
            continue
        for turn in sample.conversations:
            if turn.role == "assistant" and turn.content.strip():
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": ids[sample.images[0].sha256],
                        "category_id": 0,
                        "caption": turn.content,
                    }
                )
    return _header(dataset) | {"categories": [], "images": _images(samples, ids), "annotations": annotations}


def export(samples: list[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    for sample in samples:
        refuse_videos(sample, "COCO")
    instances_path = folder / f"instances_{dataset}.json"
    captions_path = folder / f"captions_{dataset}.json"
    atomic_write_text(instances_path, json.dumps(instances(samples, dataset), ensure_ascii=False, indent=2))
    atomic_write_text(captions_path, json.dumps(captions(samples, dataset), ensure_ascii=False, indent=2))
    return [instances_path, captions_path]
