"""Label Studio JSON export (``Export -> JSON``): tasks with their annotations.

Each non-cancelled annotation of a task is one sample, one annotation round
(in the export's order), and all of them share the task's ``item_id`` (see
``_item_id``: it does not depend on the export's file name); an annotation
marked ``ground_truth`` (an adjudicated one) is ``gold``. A generated scene's task
is released only once a reviewer accepted it, as a synthetic sample with the scene's lineage
(``vlforge.ingest.scene_tasks``). Results are read as:

- ``rectanglelabels``: a box (percent of the image -> absolute pixels);
- ``textarea`` with a region (``x``/``y``/``width``/``height``) or the id of a
  rectangle: an OCR line for that region;
- ``textarea`` without a region: a caption of the whole image;
- ``choices``: kept as the sample's choices.

Any other result type (polygons, keypoints, brushes, rotated rectangles) is a
label format this version cannot store, and the annotation is quarantined so
that nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vlforge.config import Recipe
from vlforge.geometry import label_studio_percent_to_xyxy
from vlforge.ingest.base import IngestContext, RecordError, Rejection, caption_turns
from vlforge.ingest.scene_tasks import scene_lineage, scene_rounds
from vlforge.ingest.sources import load_json_records
from vlforge.media import detect_language
from vlforge.records import Box, ImageRef, OcrLine, Sample, make_item_id, make_sample_id

_REGION_KEYS = ("x", "y", "width", "height")
# Review tasks that vlforge writes carry the item they came from, so an adjudicated export resolves it.
REVIEW_ITEM_KEY = "vlforge_item_id"
_SUPPORTED = ("rectanglelabels", "textarea", "choices")


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    """Yield a sample or a rejection for every annotation in the export at ``location``."""
    for record_id, task in load_json_records(location, context):
        if isinstance(task, Rejection):
            yield task
            continue
        task_id = task.get("id", record_id) if isinstance(task, dict) else record_id
        try:
            scene = scene_lineage(task)
            annotations = _annotations(task, allow_none=scene is not None)
            if scene is not None:
                annotations = scene_rounds(task, annotations, recipe.scenes.allow_unreviewed)
        except RecordError as error:
            yield Rejection(context.source(f"task {task_id}"), error.reason, error.field, error.value)
            continue
        item_id = _item_id(task, context, task_id)
        for round_, annotation in enumerate(annotations, start=1):
            source = context.source(f"task {task_id}/annotation {annotation.get('id', round_)}")
            try:
                yield _sample(task, annotation, round_, source, context, recipe).model_copy(
                    update={"item_id": item_id, "gold": bool(annotation.get("ground_truth", False))}
                    | ({"synthetic": True, "lineage": (scene,)} if scene is not None else {})
                )
            except RecordError as error:
                yield Rejection(source, error.reason, error.field, error.value)


def _item_id(task: Any, context: IngestContext, task_id: object) -> str:
    """The item's id, from what travels with the task rather than the export's file name.

    vlforge's own review tasks carry it (``data.vlforge_item_id``); any other task is
    named by its Label Studio project and task ids, so renaming or re-exporting the
    file keeps every item's id. Only a task without those ids falls back to the file
    name and its position in the file.
    """
    data = task.get("data") if isinstance(task, dict) else None
    if isinstance(data, dict) and isinstance(data.get(REVIEW_ITEM_KEY), str):
        return data[REVIEW_ITEM_KEY]
    project = _project_id(task)
    if project is not None and isinstance(task, dict) and "id" in task:
        return make_item_id(f"label-studio project {project}", task["id"])
    return make_item_id(context.source_file, task_id)


def _project_id(task: Any) -> int | str | None:
    """The task's Label Studio project: on the task in a JSON export, else on its annotations."""
    if not isinstance(task, dict):
        return None
    if isinstance(task.get("project"), int | str):
        return task["project"]
    annotations = task.get("annotations") if isinstance(task.get("annotations"), list) else []
    projects = {item.get("project") for item in annotations if isinstance(item, dict) and isinstance(item.get("project"), int | str)}
    return projects.pop() if len(projects) == 1 else None


def _annotations(task: Any, allow_none: bool = False) -> list[dict[str, Any]]:
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise RecordError("task is not an object with a 'data' object", "data", task)
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list) or not all(isinstance(item, dict) for item in annotations):
        raise RecordError("'annotations' is not a list of objects", "annotations", annotations)
    kept = [annotation for annotation in annotations if not annotation.get("was_cancelled", False)]
    if not kept and not allow_none:
        reason = "every annotation was cancelled" if annotations else "task has no annotations"
        raise RecordError(reason, "annotations", len(annotations))
    return kept


def _sample(
    task: dict[str, Any], annotation: dict[str, Any], round_: int, source: Any, context: IngestContext, recipe: Recipe
) -> Sample:
    results = annotation.get("result")
    if not isinstance(results, list):
        raise RecordError("annotation has no 'result' list", "result", results)
    reference, data_key = _image_reference(task["data"], results)
    image = context.load_image(reference, f"data.{data_key}")
    rectangles: dict[str, Box] = {}
    regions_text: dict[str, tuple[str, Box | None]] = {}
    captions: list[str] = []
    choices: list[str] = []
    for index, result in enumerate(results):
        field_name = f"result[{index}]"
        kind = result.get("type")
        value = result.get("value") or {}
        if kind not in _SUPPORTED:
            raise RecordError(
                f"result type {kind!r} (from_name {result.get('from_name')!r}) is not a supported label format; "
                f"supported: {', '.join(_SUPPORTED)}",
                f"{field_name}.type",
                kind,
            )
        if kind == "choices":
            choices.extend(str(choice) for choice in value.get("choices", []))
            continue
        region_id = str(result.get("id", f"#{index}"))
        box = _region_box(result, image, field_name) if all(key in value for key in _REGION_KEYS) else None
        if kind == "rectanglelabels":
            if box is None:
                raise RecordError("rectangle has no x/y/width/height", f"{field_name}.value", value)
            labels = value.get("rectanglelabels") or [""]
            rectangles[region_id] = box.model_copy(update={"label": str(labels[0])})
            continue
        text = "\n".join(str(part) for part in value.get("text", [])).strip()
        if box is None and region_id not in rectangles and not _is_region_of_later_rectangle(region_id, results):
            captions.append(text)
        else:
            regions_text[region_id] = (text, box)
    ocr_lines = []
    for region_id, (text, box) in regions_text.items():
        region_box = rectangles.pop(region_id, None) or box
        ocr_lines.append(OcrLine(text=text, box=region_box, language=detect_language(text)))
    boxes = tuple(rectangles.values())
    conversations = caption_turns([caption for caption in captions if caption], recipe.prompts.caption)
    if ocr_lines:
        task_type = "ocr"
    elif boxes:
        task_type = "grounding"
    elif conversations:
        task_type = "caption"
    else:
        kinds = [result.get("type") for result in results]
        raise RecordError("annotation has no box, transcription or caption to train on", "result", kinds)
    return Sample(
        sample_id=make_sample_id(source, round_),
        task_type=task_type,
        images=(image,),
        conversations=conversations,
        boxes=boxes,
        ocr_lines=tuple(ocr_lines),
        choices=tuple(choices),
        annotator=_annotator(annotation),
        round=round_,
        source=source,
    )


def _is_region_of_later_rectangle(region_id: str, results: list[dict[str, Any]]) -> bool:
    return any(str(result.get("id")) == region_id and result.get("type") == "rectanglelabels" for result in results)


def _image_reference(data: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, str]:
    """The task's image: the data key that results point at (``to_name``), else ``image``."""
    for key in [str(result.get("to_name", "")) for result in results] + ["image"]:
        if isinstance(data.get(key), str):
            return data[key], key
    for key, value in data.items():
        if isinstance(value, str) and value.lower().rsplit(".", 1)[-1] in {"jpg", "jpeg", "png", "webp", "bmp", "gif"}:
            return value, key
    raise RecordError("task data has no image reference", "data", sorted(data))


def _region_box(result: dict[str, Any], image: ImageRef, field_name: str) -> Box:
    value = result["value"]
    if value.get("rotation", 0) not in (0, 0.0, None):
        raise RecordError(
            "rotated rectangle cannot be stored as an axis-aligned box", f"{field_name}.value.rotation", value["rotation"]
        )
    if result.get("image_rotation", 0) not in (0, 0.0, None):
        raise RecordError("annotation was made on a rotated image view", f"{field_name}.image_rotation", result["image_rotation"])
    original = (result.get("original_width"), result.get("original_height"))
    if None not in original and tuple(original) != (image.width, image.height):
        raise RecordError(
            f"annotation was made on a {original[0]}x{original[1]} image but the image is {image.width}x{image.height}",
            f"{field_name}.original_width",
            list(original),
        )
    try:
        coordinates = [float(value[key]) for key in _REGION_KEYS]
    except (TypeError, ValueError):
        raise RecordError("region coordinates are not numbers", f"{field_name}.value", value) from None
    x1, y1, x2, y2 = label_studio_percent_to_xyxy(*coordinates, image.width, image.height)
    return Box(x1=x1, y1=y1, x2=x2, y2=y2)


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by", "")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id", "")
    return str(who)
