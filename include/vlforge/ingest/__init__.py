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
from typing import BinaryIO

import fsspec
from tqdm import tqdm

from vlforge.config import Recipe
from vlforge.ingest import coco, label_studio, llamafactory, qwen, yolo
from vlforge.ingest.base import ImagesRoot, IngestContext, RecordError, Rejection, checked_sample, image_roots
from vlforge.manifest import write_manifest
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import ImageStore, atomic_open, atomic_write_text

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
        return ingest_counts(len(self.samples), len(self.rejections))


def ingest_counts(rows_ok: int, rows_quarantined: int) -> dict[str, int | float]:
    """The ingest counts: rows in, released and quarantined, and the quarantined share."""
    rows_in = rows_ok + rows_quarantined
    return {
        "rows_in": rows_in,
        "rows_ok": rows_ok,
        "rows_quarantined": rows_quarantined,
        "quarantine_share": rows_quarantined / rows_in if rows_in else 0.0,
    }


def ingest_source(
    source: str, source_format: str, store: ImageStore, recipe: Recipe, images_root: ImagesRoot = None
) -> IngestResult:
    """Every record of ``source`` as samples or rejections, collected in memory (``ingest_rows`` streams them).

    Args and Raises: as ``ingest_rows``.
    """
    result = IngestResult()
    for item in ingest_rows(source, source_format, store, recipe, images_root):
        if isinstance(item, Sample):
            result.samples.append(item)
        else:
            result.rejections.append(item)
    return result


def ingest_rows(
    source: str, source_format: str, store: ImageStore, recipe: Recipe, images_root: ImagesRoot = None
) -> Iterator[Sample | Rejection]:
    """Read every record of ``source`` into samples or rejections, one at a time.

    A sample whose id an earlier sample already has is rejected; those rejections come after every
    other row, so memory holds the ids seen, never the samples.

    Args:
        source: an export file, a folder of export files (read in name order; so an
            adjudicated review export beside the original resolves its items), or a
            YOLO folder; a local path or an fsspec URI.
        source_format: one of ``ADAPTERS``.
        store: where images are put.
        recipe: the release recipe (prompts, tolerances).
        images_root: extra folders or URIs to resolve image references against, tried in order
            after the export's own folder (e.g. the original images and a Label Studio document root).

    Yields:
        Each checked sample and each rejection, in file order (repeated ids last).

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
    seen: set[str] = set()
    repeated: list[Rejection] = []
    rows_in, rejected = 0, 0
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
            rows_in += 1
            if isinstance(item, Sample):
                try:
                    item = checked_sample(item, recipe.ingest.box_tolerance_px)
                except RecordError as error:
                    item = Rejection(item.source, error.reason, error.field, error.value)
            if isinstance(item, Sample) and item.sample_id in seen:
                repeated.append(Rejection(item.source, "record id appears twice in the source", "id", item.source.record_id))
            elif isinstance(item, Sample):
                seen.add(item.sample_id)
                yield item
            else:
                rejected += 1
                yield item
            if rows_in % PROGRESS_EVERY == 0:
                log.info("ingest %s: %d rows read, %d quarantined", name, rows_in, rejected + len(repeated))
    yield from repeated
    log.info("ingest %s done: %d rows read, %d quarantined", source, rows_in, rejected + len(repeated))


def _files(filesystem: fsspec.AbstractFileSystem, path: str, location: str, source_format: str) -> list[str]:
    """The files to read: the source itself, or every JSON/JSON Lines export in a source folder, by name."""
    if source_format in FOLDER_FORMATS or not filesystem.isdir(path):
        return [location]
    names = sorted(entry.rsplit("/", 1)[-1] for entry in filesystem.ls(path, detail=False))
    return [f"{location}/{name}" for name in names if name.endswith((".json", ".jsonl"))]


def run_ingest(run: RunDescription) -> dict[str, int | float | str]:
    """Ingest the run's source into its run folder: the ingested rounds, the quarantine and the counts.

    Returns:
        The counts: rows in, released and quarantined, the quarantined share, and the source.
    """
    run_dir = run.run_dir
    rejected = 0

    def released(quarantine: BinaryIO) -> Iterator[Sample]:
        nonlocal rejected
        for item in ingest_rows(run.source, run.source_format, run.store, run.recipe, run.images_root):
            if isinstance(item, Sample):
                yield item
            else:
                rejected += 1
                quarantine.write((json.dumps(item.to_json(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))

    with atomic_open(run_dir.quarantine) as quarantine:
        released_count = write_manifest(released(quarantine), run_dir.ingested)
    stats = {**ingest_counts(released_count, rejected), "source": run.source, "source_format": run.source_format}
    atomic_write_text(run_dir.ingest_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
