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
- caption ``annotations``: every caption of every sample with exactly one image (``caption_answers``):
  all assistant answers of ``caption`` samples, and in samples of other task types the answers to
  the recipe's caption prompt (a grounding sample annotated in Label Studio often carries a caption
  too). As in COCO's own ``captions_train2017.json``, a caption annotation is ``id``, ``image_id``
  and ``caption`` and the file has no ``categories``: pycocotools indexes ``category_id`` only when
  ``categories`` is present, and a caption has no category.

Ids are a function of the samples' order, so the same release gives the same ids.
COCO has no videos: a video sample is refused (``export_all`` skips it).
"""

from __future__ import annotations

import json
import re
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


_MEDIA_TAGS = re.compile(r"<image>|<video>")


def caption_answers(sample: Sample, caption_prompt: str) -> list[str]:
    """The captions in a sample's conversation: every answer of a caption sample, else the answers to ``caption_prompt``.

    A prompt is compared without its ``<image>``/``<video>`` tags, surrounding whitespace and case.
    """
    prompt = caption_prompt.strip().casefold()
    answers, asked = [], ""
    for turn in sample.conversations:
        if turn.role == "user":
            asked = _MEDIA_TAGS.sub("", turn.content).strip().casefold()
        elif turn.role == "assistant" and turn.content.strip() and (sample.task_type == "caption" or asked == prompt):
            answers.append(turn.content)
    return answers


def captions(samples: list[Sample], dataset: str, caption_prompt: str) -> dict[str, object]:
    """The captions file: every caption of every single-image sample (``caption_answers``)."""
    ids = image_ids(samples)
    annotations = []
    for sample in samples:
        if len(sample.images) != 1:
            continue
        for caption in caption_answers(sample, caption_prompt):
            annotations.append({"id": len(annotations) + 1, "image_id": ids[sample.images[0].sha256], "caption": caption})
    return _header(dataset) | {"images": _images(samples, ids), "annotations": annotations}


def export(samples: list[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    for sample in samples:
        refuse_videos(sample, "COCO")
    instances_path = folder / f"instances_{dataset}.json"
    captions_path = folder / f"captions_{dataset}.json"
    atomic_write_text(instances_path, json.dumps(instances(samples, dataset), ensure_ascii=False, indent=2))
    captions_file = captions(samples, dataset, recipe.prompts.caption)
    atomic_write_text(captions_path, json.dumps(captions_file, ensure_ascii=False, indent=2))
    return [instances_path, captions_path]
