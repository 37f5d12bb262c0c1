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

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.json_stream import JsonSpool, write_json_object
from vlforge.export.render import IMAGE_PREFIX, ExportError, refuse_videos
from vlforge.records import Box, ImageRef, Sample

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


def _image_entry(image: ImageRef, image_id: int) -> dict[str, object]:
    return {
        "id": image_id,
        "width": image.width,
        "height": image.height,
        "file_name": image.file_name,
        "license": 0,
        "flickr_url": "",
        "coco_url": "",
        "date_captured": 0,
    }


class CocoImages:
    """The distinct images and box labels seen so far: ids ``1..N`` in order of first appearance, and their entries."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.entries: list[dict[str, object]] = []
        self.labels: set[str] = set()

    def add(self, sample: Sample) -> None:
        for image in sample.images:
            if image.sha256 not in self.ids:
                self.ids[image.sha256] = len(self.ids) + 1
                self.entries.append(_image_entry(image, self.ids[image.sha256]))
        self.labels |= {box.label for box in sample.boxes}

    def categories(self) -> dict[str, int]:
        """Box label -> COCO category id, ``1..K`` in sorted label order."""
        return {label: index for index, label in enumerate(sorted(self.labels), start=1)}


# A box annotation before the categories are known: image id, label, area, bbox.
_Box = tuple[int, str, float, list[float]]


def _boxes(sample: Sample, ids: dict[str, int]) -> list[_Box]:
    """The sample's boxes as COCO measures them, checked."""
    found = []
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
        found.append((ids[sample.images[box.image_index].sha256], box.label, round(bbox[2] * bbox[3], DIGITS), bbox))
    return found


def _instances_head(dataset: str, images: CocoImages) -> dict[str, object]:
    categories = images.categories()
    return _header(dataset) | {
        "categories": [{"id": index, "name": label, "supercategory": ""} for label, index in categories.items()],
        "images": images.entries,
    }


def _box_annotations(boxes: Iterable[_Box], categories: dict[str, int]) -> Iterator[dict[str, object]]:
    for number, (image_id, label, area, bbox) in enumerate(boxes, start=1):
        yield {
            "id": number,
            "image_id": image_id,
            "category_id": categories[label],
            "segmentation": [],
            "area": area,
            "bbox": bbox,
            "iscrowd": 0,
        }


def instances(samples: Iterable[Sample], dataset: str) -> dict[str, object]:
    """The instances file: every labelled box of every sample."""
    images, boxes = CocoImages(), []
    for sample in samples:
        images.add(sample)
        boxes += _boxes(sample, images.ids)
    return _instances_head(dataset, images) | {"annotations": list(_box_annotations(boxes, images.categories()))}


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


# A caption annotation before it is numbered: image id, caption.
_Caption = tuple[int, str]


def _captions(sample: Sample, ids: dict[str, int], caption_prompt: str) -> list[_Caption]:
    if len(sample.images) != 1:
        return []
    return [(ids[sample.images[0].sha256], caption) for caption in caption_answers(sample, caption_prompt)]


def _caption_annotations(found: Iterable[_Caption]) -> Iterator[dict[str, object]]:
    for number, (image_id, caption) in enumerate(found, start=1):
        yield {"id": number, "image_id": image_id, "caption": caption}


def captions(samples: Iterable[Sample], dataset: str, caption_prompt: str) -> dict[str, object]:
    """The captions file: every caption of every single-image sample (``caption_answers``)."""
    images, found = CocoImages(), []
    for sample in samples:
        images.add(sample)
        found += _captions(sample, images.ids, caption_prompt)
    return _header(dataset) | {"images": images.entries, "annotations": list(_caption_annotations(found))}


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """Write both files in one pass: the annotations wait in spools until every image and label is known."""
    instances_path = folder / f"instances_{dataset}.json"
    captions_path = folder / f"captions_{dataset}.json"
    images = CocoImages()
    with JsonSpool(folder) as boxes, JsonSpool(folder) as found:
        for sample in samples:
            refuse_videos(sample, "COCO")
            images.add(sample)
            for box in _boxes(sample, images.ids):
                boxes.append(box)
            for caption in _captions(sample, images.ids, recipe.prompts.caption):
                found.append(caption)
        write_json_object(
            instances_path, _instances_head(dataset, images), "annotations", _box_annotations(boxes, images.categories())
        )
        write_json_object(
            captions_path, _header(dataset) | {"images": images.entries}, "annotations", _caption_annotations(found)
        )
    return [instances_path, captions_path]
