"""Unlabelled images -> a Label Studio import file whose tasks carry machine ``predictions``.

Each image becomes one task ``{"data": {"image": ...}, "predictions": [...]}`` with one
prediction holding every machine result, in the conventions ``vlforge.ingest.label_studio``
reads back (see ``vlforge.label_studio_tasks``):

- an OCR line: a ``rectanglelabels`` region labelled ``Text`` and a ``textarea`` named
  ``transcription`` with the same id (the Label Studio OCR template), in percent of
  ``original_width``/``original_height``, with Tesseract's confidence as ``score``;
- a VLM box: a ``rectanglelabels`` region with the model's label;
- a VLM caption: a whole-image ``textarea`` named ``caption``.

The work is split in shards (``list_image_shards`` -> ``preannotate_shard`` per shard ->
``merge_shards``) so that workers can share it; ``run_preannotate`` does all three in one
process. ``label_config.xml`` for the Label Studio project is written beside the import file.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from vlforge.label_studio_tasks import caption, label_config, region, transcription
from vlforge.layout import LABEL_CONFIG_NAME
from vlforge.preannotate.config import PreannotateConfig, VlmConfig
from vlforge.preannotate.tesseract import RecognisedLine, check_languages, recognise, tesseract_version
from vlforge.preannotate.vlm import Vlm, shared_vlm
from vlforge.records import Box, ImageRef
from vlforge.store import atomic_write_text, sha256_bytes

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


@dataclass(frozen=True)
class Skipped:
    """An image that could not be pre-annotated, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class VlmLabels:
    """What the VLM said about one image: boxes in its pixels, and its caption (none when empty)."""

    boxes: tuple[Box, ...] = ()
    captions: tuple[str, ...] = ()

    def results(self, reference: ImageRef) -> list[dict[str, Any]]:
        """The boxes as ``rectanglelabels`` regions (``object`` where the model named none) and the captions as whole-image text."""
        regions = [region(f"box{index}", box, reference, box.label or "object") for index, box in enumerate(self.boxes)]
        return regions + [caption(f"caption{index}", text) for index, text in enumerate(self.captions)]


def vlm_labels(image: Image.Image, vlm: Vlm, config: VlmConfig) -> VlmLabels:
    """The VLM's boxes and caption of ``image``, each only when ``config`` switches it on."""
    boxes = tuple(vlm.ground(image)) if config.grounding else ()
    text = vlm.caption(image) if config.caption else ""
    return VlmLabels(boxes=boxes, captions=(text,) if text else ())


def list_images(images_dir: Path) -> list[str]:
    """Image files under ``images_dir`` (recursively, hidden ones left out), as sorted relative POSIX paths.

    Raises:
        FileNotFoundError: when ``images_dir`` is not a folder.
        ValueError: when it holds no image file.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"images_dir {root} is not a folder")
    files = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not files:
        raise ValueError(f"no image files in {root} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def list_image_shards(images_dir: Path, shard_size: int) -> list[dict[str, Any]]:
    """The images under ``images_dir`` in shards of at most ``shard_size``.

    Returns:
        ``[{"index": 0, "files": [...]}, ...]`` (JSON-able, for dynamic task mapping).
    """
    files = list_images(images_dir)
    return [{"index": number, "files": files[start : start + shard_size]} for number, start in enumerate(range(0, len(files), shard_size))]


def preannotate_shard(
    images_dir: Path, files: list[str], shard_file: Path, config: PreannotateConfig, vlm: Vlm | None = None
) -> dict[str, Any]:
    """Pre-annotate ``files`` (relative to ``images_dir``) and write the tasks to ``shard_file``.

    Args:
        images_dir: the folder the files are relative to.
        files: relative POSIX paths, as ``list_images`` gives them.
        shard_file: where the shard's tasks and counts go (JSON, written atomically).
        config: the ``preannotate`` section.
        vlm: a model to caption and box with; None loads ``config.vlm.model_path`` if set.

    Returns:
        The shard's counts (see ``run_preannotate``).
    """
    tasks, counts = _preannotate(Path(images_dir), files, config, vlm)
    atomic_write_text(Path(shard_file), json.dumps({"tasks": tasks, "counts": counts}, ensure_ascii=False))
    return counts | {"shard_file": str(shard_file)}


def merge_shards(shard_files: list[Path], out_file: Path) -> dict[str, Any]:
    """Concatenate shard files, in the order given, into one Label Studio import file.

    Writes ``out_file`` (a JSON list of tasks) and ``label_config.xml`` beside it, atomically.

    Returns:
        The summed counts, with ``output`` and ``label_config`` paths.
    """
    tasks: list[dict[str, Any]] = []
    counts = _empty_counts()
    for shard_file in shard_files:
        shard = json.loads(Path(shard_file).read_text(encoding="utf-8"))
        tasks += shard["tasks"]
        counts = _add_counts(counts, shard["counts"])
    return counts | write_import(tasks, Path(out_file))


def run_preannotate(images_dir: Path, out_file: Path, config: PreannotateConfig, vlm: Vlm | None = None) -> dict[str, Any]:
    """Pre-annotate every image under ``images_dir`` into the Label Studio import file ``out_file``.

    Args:
        images_dir: the folder of unlabelled images (searched recursively).
        out_file: the import file to write (a JSON list of tasks); ``label_config.xml`` goes beside it.
        config: the ``preannotate`` section.
        vlm: a model to caption and box with; None loads ``config.vlm.model_path`` if set (else OCR only).

    Returns:
        ``{"images", "tasks", "ocr_lines", "boxes", "captions", "skipped", "output", "label_config"}``;
        ``skipped`` lists ``{"file", "reason"}`` for images that could not be decoded.
    """
    tasks, counts = _preannotate(Path(images_dir), list_images(Path(images_dir)), config, vlm)
    return counts | write_import(tasks, Path(out_file))


def write_import(tasks: list[dict[str, Any]], out_file: Path) -> dict[str, str]:
    """Write the tasks and the matching ``label_config.xml`` beside them, each atomically."""
    labels = [
        label
        for task in tasks
        for prediction in task["predictions"]
        for result in prediction["result"]
        for label in result["value"].get("rectanglelabels", [])
    ]
    atomic_write_text(out_file, json.dumps(tasks, indent=2, ensure_ascii=False))
    config_file = out_file.with_name(LABEL_CONFIG_NAME)
    atomic_write_text(config_file, label_config(labels))
    return {"output": str(out_file), "label_config": str(config_file)}


def _preannotate(
    images_dir: Path, files: list[str], config: PreannotateConfig, vlm: Vlm | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if vlm is None and config.vlm.model_path:
        vlm = shared_vlm(config.vlm)
    versions = []
    if config.ocr.enabled:
        check_languages(config.ocr.languages, config.ocr.binary)
        versions.append(f"{tesseract_version(config.ocr.binary)} ({'+'.join(config.ocr.languages)})")
    if vlm is not None:
        versions.append(vlm.model_version)
    model_version = "vlforge-preannotate: " + "; ".join(versions or ["nothing"])
    tasks = []
    counts = _empty_counts()
    for relative in files:
        try:
            image, reference = _open(images_dir / relative)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            logger.warning("skipping %s: %s", relative, error)
            counts["images"] += 1
            counts["skipped"].append({"file": relative, "reason": f"image cannot be decoded ({error})"})
            continue
        with image:
            task, task_counts = _task(image, reference, relative, config, vlm, model_version)
        tasks.append(task)
        counts = _add_counts(counts, task_counts)
    return tasks, counts


def _task(
    image: Image.Image, reference: ImageRef, relative: str, config: PreannotateConfig, vlm: Vlm | None, model_version: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    results: list[dict[str, Any]] = []
    lines: list[RecognisedLine] = []
    if config.ocr.enabled:
        ocr = config.ocr
        lines = recognise(image, relative, ocr.languages, ocr.psm, ocr.min_word_confidence, ocr.timeout_s, ocr.binary)
        for index, recognised in enumerate(lines):
            box = recognised.line.box
            assert box is not None
            score = {"score": recognised.confidence}
            results += [
                region(f"ocr{index}", box, reference, "Text") | score,
                transcription(f"ocr{index}", box, reference, recognised.line.text) | score,
            ]
    labels = vlm_labels(image, vlm, config.vlm) if vlm is not None else VlmLabels()
    results += labels.results(reference)
    prediction: dict[str, Any] = {"model_version": model_version, "result": results}
    if lines:
        prediction["score"] = round(sum(line.confidence for line in lines) / len(lines), 4)
    task = {
        "data": {"image": config.image_url_prefix + urllib.parse.quote(relative, safe="/")},
        "predictions": [prediction],
        "meta": {
            "vlforge_file": relative,
            "sha256": reference.sha256,
            "width": reference.width,
            "height": reference.height,
            "languages": sorted({line.line.language for line in lines}),
        },
    }
    counts = _empty_counts() | {"images": 1, "tasks": 1, "ocr_lines": len(lines), "boxes": len(labels.boxes), "captions": len(labels.captions)}
    return task, counts


def _open(path: Path) -> tuple[Image.Image, ImageRef]:
    """The image as displayed (EXIF orientation applied) and its reference (sha256 of the file bytes)."""
    data = path.read_bytes()
    image = Image.open(path)
    image.load()
    image_format = image.format or ""
    upright = ImageOps.exif_transpose(image)
    if upright is not image:
        image.close()
    extension = _FORMATS.get(image_format)
    if extension is None:
        raise ValueError(f"image format {image_format!r} is not supported")
    width, height = upright.size
    return upright, ImageRef(sha256=sha256_bytes(data), width=width, height=height, format=extension)


def _empty_counts() -> dict[str, Any]:
    return {"images": 0, "tasks": 0, "ocr_lines": 0, "boxes": 0, "captions": 0, "skipped": []}


def _add_counts(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    return {key: total[key] + more[key] for key in _empty_counts()}
