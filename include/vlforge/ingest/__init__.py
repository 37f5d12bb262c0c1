"""Ingest: source files in any supported format -> a staged manifest, a quarantine and counts.

Adapters are registered by format name, one module each. Every row read is
either released (a sample in the manifest) or quarantined (a line in
the run folder's quarantine with the reason), so ``rows_in == rows_ok + rows_quarantined``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
from tqdm import tqdm

from vlforge.config import Recipe
from vlforge.ingest import coco, label_studio, llamafactory, qwen, yolo
from vlforge.ingest.base import ImagesRoot, IngestContext, RecordError, Rejection, checked_sample, image_roots
from vlforge.manifest import write_manifest
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import ImageStore, atomic_write_text

log = logging.getLogger(__name__)

Adapter = Callable[[str, IngestContext, Recipe], Iterator[Sample | Rejection]]
ADAPTERS: dict[str, Adapter] = {
    "label_studio": label_studio.read,
    "coco": coco.read,
    "yolo": yolo.read,
    "llamafactory": llamafactory.read,
    "qwen": qwen.read,
}
# Formats whose source is a folder; for the others a folder means "every export file in it".
FOLDER_FORMATS = {"yolo"}
PROGRESS_EVERY = 500


@dataclass
class IngestResult:
    samples: list[Sample] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.samples) + len(self.rejections)

    def stats(self) -> dict[str, int | float]:
        return {
            "rows_in": self.rows_in,
            "rows_ok": len(self.samples),
            "rows_quarantined": len(self.rejections),
            "quarantine_share": len(self.rejections) / self.rows_in if self.rows_in else 0.0,
        }


def ingest_source(
    source: str, source_format: str, store: ImageStore, recipe: Recipe, images_root: ImagesRoot = None
) -> IngestResult:
    """Read every record of ``source`` into samples or rejections.

    Args:
        source: an export file, a folder of export files (read in name order; so an
            adjudicated review export beside the original resolves its items), or a
            YOLO folder; a local path or an fsspec URI.
        source_format: one of ``ADAPTERS``.
        store: where images are put.
        recipe: the release recipe (prompts, tolerances).
        images_root: extra folders or URIs to resolve image references against, tried in order
            after the export's own folder (e.g. the original images and a Label Studio document root).

    Raises:
        ValueError: for an unknown format, a source that does not exist or a bad ``images_root``.
    """
    if source_format not in ADAPTERS:
        raise ValueError(f"source_format {source_format!r} is unknown; known formats: {sorted(ADAPTERS)}")
    roots = image_roots(images_root)
    filesystem, path = fsspec.core.url_to_fs(source)
    if not filesystem.exists(path):
        raise ValueError(f"source {source!r} does not exist")
    is_local = "://" not in source or source.startswith("file://")
    location = str(Path(path).resolve()) if is_local else source.rstrip("/")
    result = IngestResult()
    for file_location in _files(filesystem, path, location, source_format):
        name = file_location.rsplit("/", 1)[-1]
        folder = file_location if source_format in FOLDER_FORMATS else file_location.rsplit("/", 1)[0]
        context = IngestContext(
            source_file=name,
            source_root=folder,
            images_root=roots,
            store=store,
            box_tolerance_px=recipe.ingest.box_tolerance_px,
            download_timeout_s=recipe.ingest.download_timeout_s,
            max_record_bytes=recipe.ingest.max_record_bytes,
            max_document_bytes=recipe.ingest.max_document_bytes,
        )
        rows = tqdm(ADAPTERS[source_format](file_location, context, recipe), desc=f"ingest {name}", unit="row", disable=None)
        for item in rows:
            if isinstance(item, Sample):
                try:
                    result.samples.append(checked_sample(item, recipe.ingest.box_tolerance_px))
                except RecordError as error:
                    result.rejections.append(Rejection(item.source, error.reason, error.field, error.value))
            else:
                result.rejections.append(item)
            if result.rows_in % PROGRESS_EVERY == 0:
                log.info("ingest %s: %d rows read, %d quarantined", name, result.rows_in, len(result.rejections))
    _reject_duplicate_ids(result)
    log.info("ingest %s done: %s", source, result.stats())
    return result


def _files(filesystem: fsspec.AbstractFileSystem, path: str, location: str, source_format: str) -> list[str]:
    """The files to read: the source itself, or every JSON/JSON Lines export in a source folder, by name."""
    if source_format in FOLDER_FORMATS or not filesystem.isdir(path):
        return [location]
    names = sorted(entry.rsplit("/", 1)[-1] for entry in filesystem.ls(path, detail=False))
    return [f"{location}/{name}" for name in names if name.endswith((".json", ".jsonl"))]


def _reject_duplicate_ids(result: IngestResult) -> None:
    seen: set[str] = set()
    kept = []
    for sample in result.samples:
        if sample.sample_id in seen:
            result.rejections.append(Rejection(sample.source, "record id appears twice in the source", "id", sample.source.record_id))
        else:
            seen.add(sample.sample_id)
            kept.append(sample)
    result.samples = kept


def write_quarantine(rejections: list[Rejection], path: Path) -> None:
    lines = [json.dumps(rejection.to_json(), ensure_ascii=False, sort_keys=True) for rejection in rejections]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def run_ingest(run: RunDescription) -> dict[str, int | float | str]:
    """Ingest the run's source into its run folder: the ingested rounds, the quarantine and the counts.

    Returns:
        The counts: rows in, released and quarantined, the quarantined share, and the source.
    """
    run_dir = run.run_dir
    result = ingest_source(run.source, run.source_format, run.store, run.recipe, run.images_root)
    write_manifest(result.samples, run_dir.ingested)
    write_quarantine(result.rejections, run_dir.quarantine)
    stats = {**result.stats(), "source": run.source, "source_format": run.source_format}
    atomic_write_text(run_dir.ingest_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
