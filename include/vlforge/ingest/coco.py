"""COCO detection and caption files (``instances_*.json``, ``captions_*.json``, or both in one).

Each image with instance annotations becomes one grounding sample (COCO
``[x, y, width, height]`` -> ``x1, y1, x2, y2``); each caption annotation
becomes one caption sample. Images are looked up by ``file_name`` under the
file's folder or ``images_root``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from vlforge.config import Recipe
from vlforge.geometry import coco_xywh_to_xyxy
from vlforge.ingest.base import IngestContext, RecordError, Rejection, caption_turns
from vlforge.ingest.sources import read_document
from vlforge.records import Box, ImageRef, Sample, make_sample_id


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    document = read_document(location, context)
    if isinstance(document, Rejection):
        yield document
        return
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        yield Rejection(context.source("file"), "not a COCO file: no 'images' list", "images", type(document).__name__)
        return
    categories = {category["id"]: str(category["name"]) for category in document.get("categories", [])}
    instances: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    captions: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in document.get("annotations", []):
        target = captions if "caption" in annotation else instances
        target[annotation.get("image_id")].append(annotation)
    known_images = {image.get("id") for image in document["images"]}
    for image_id in sorted(set(instances) | set(captions), key=str):
        if image_id not in known_images:
            yield Rejection(context.source(f"image {image_id}"), "annotations refer to an image id not in 'images'", "image_id", image_id)
    for image_entry in document["images"]:
        image_id = image_entry.get("id")
        if image_id in instances:
            source = context.source(f"image {image_id}")
            try:
                image = _load(image_entry, context)
                boxes = tuple(_box(annotation, categories) for annotation in instances[image_id])
                yield Sample(
                    sample_id=make_sample_id(source, 1), task_type="grounding", images=(image,), boxes=boxes, source=source
                )
            except RecordError as error:
                yield Rejection(source, error.reason, error.field, error.value)
        for annotation in captions.get(image_id, []):
            source = context.source(f"image {image_id}/caption {annotation.get('id')}")
            try:
                image = _load(image_entry, context)
                text = str(annotation["caption"]).strip()
                if not text:
                    raise RecordError("caption is empty", "caption", annotation["caption"])
                turns = caption_turns([text], recipe.prompts.caption)
                yield Sample(
                    sample_id=make_sample_id(source, 1), task_type="caption", images=(image,), conversations=turns, source=source
                )
            except RecordError as error:
                yield Rejection(source, error.reason, error.field, error.value)


def _load(image_entry: dict[str, Any], context: IngestContext) -> ImageRef:
    image = context.load_image(str(image_entry.get("file_name", "")), "file_name")
    declared = (image_entry.get("width"), image_entry.get("height"))
    if None not in declared and tuple(declared) != (image.width, image.height):
        raise RecordError(
            f"COCO says {declared[0]}x{declared[1]} but the image is {image.width}x{image.height}", "width/height", list(declared)
        )
    return image


def _box(annotation: dict[str, Any], categories: dict[Any, str]) -> Box:
    field_name = f"annotations[id={annotation.get('id')}]"
    if "segments_info" in annotation:
        raise RecordError(
            "panoptic annotation (segments_info with a PNG mask) is not a supported label format; supported: bbox, caption",
            f"annotations[image_id={annotation.get('image_id')}].segments_info",
            annotation.get("file_name"),
        )
    category = annotation.get("category_id")
    if category not in categories:
        raise RecordError(f"category_id {category!r} is not among the file's categories", f"{field_name}.category_id", category)
    bbox = annotation.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise RecordError("annotation has no [x, y, width, height] bbox", f"{field_name}.bbox", bbox)
    try:
        x1, y1, x2, y2 = coco_xywh_to_xyxy(*(float(value) for value in bbox))
    except (TypeError, ValueError):
        raise RecordError("bbox values are not numbers", f"{field_name}.bbox", bbox) from None
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, label=categories[category])
