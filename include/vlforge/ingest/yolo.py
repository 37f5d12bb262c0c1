"""YOLO detection folders: ``images/``, ``labels/<stem>.txt`` and ``classes.txt``.

Each label line is ``class cx cy width height`` with the centre and size as
fractions of the image. An image without a label file has not been annotated
and is quarantined; an empty label file means "no objects" and is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import fsspec

from vlforge.config import Recipe
from vlforge.geometry import yolo_cxcywh_to_xyxy
from vlforge.ingest.base import IngestContext, RecordError, Rejection
from vlforge.ingest.sources import decode_utf8
from vlforge.records import Box, ImageRef, Sample, make_sample_id

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    filesystem, root = fsspec.core.url_to_fs(location)
    root = root.rstrip("/")
    classes_path = f"{root}/classes.txt"
    if not filesystem.isfile(classes_path):
        yield Rejection(context.source("classes.txt"), "YOLO folder has no classes.txt", "classes.txt", context.source_file)
        return
    try:
        text = decode_utf8(filesystem.cat_file(classes_path), "classes.txt")
    except RecordError as error:
        yield Rejection(context.source("classes.txt"), f"classes.txt is {error.reason}", error.field, error.value)
        return
    classes = [line.strip() for line in text.splitlines() if line.strip()]
    image_paths = sorted(
        path for path in filesystem.find(f"{root}/images") if PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES
    )
    for image_path in image_paths:
        relative = PurePosixPath(image_path).relative_to(root).as_posix()
        source = context.source(relative)
        label_path = f"{root}/labels/{PurePosixPath(relative).relative_to('images').with_suffix('.txt').as_posix()}"
        try:
            if not filesystem.isfile(label_path):
                raise RecordError("image has no label file (not annotated)", "labels", label_path.removeprefix(root + "/"))
            image = context.load_image(relative, "image")
            label_name = label_path.removeprefix(root + "/")
            try:
                text = decode_utf8(filesystem.cat_file(label_path), label_name)
            except RecordError as error:
                raise RecordError(f"label file is {error.reason}", error.field, error.value) from None
            boxes = tuple(_box(line, number, classes, image) for number, line in enumerate(text.splitlines(), 1) if line.strip())
            yield Sample(sample_id=make_sample_id(source, 1), task_type="grounding", images=(image,), boxes=boxes, source=source)
        except RecordError as error:
            yield Rejection(source, error.reason, error.field, error.value)


def _box(line: str, number: int, classes: list[str], image: ImageRef) -> Box:
    field_name = f"labels line {number}"
    parts = line.split()
    if len(parts) != 5:
        raise RecordError(
            f"label line has {len(parts)} values; expected 5 (class cx cy w h), polygons and keypoints are not supported",
            field_name,
            line,
        )
    try:
        index = int(parts[0])
        cx, cy, width, height = (float(value) for value in parts[1:])
    except ValueError:
        raise RecordError("label line is not numbers", field_name, line) from None
    if not 0 <= index < len(classes):
        raise RecordError(f"class index {index} is not in classes.txt ({len(classes)} classes)", field_name, line)
    x1, y1, x2, y2 = yolo_cxcywh_to_xyxy(cx, cy, width, height, image.width, image.height)
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, label=classes[index])
