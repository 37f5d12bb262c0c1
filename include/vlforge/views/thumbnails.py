"""Gallery thumbnails: each sample's first image with its boxes, labels, OCR lines and GUI targets drawn, once per release.

Thumbnails are cached in the release folder (``ReleaseDir.thumbnails``, ``<sample_id>.jpg``),
written atomically by whoever draws one first: ``build_thumbnails`` after
publishing, or the gallery for the samples of the page it shows. A release
folder that is not writable still gets its thumbnails, drawn on every request.
A thumbnail is not part of the release's content (nor of its hash).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import UnidentifiedImageError

from vlforge.drawing import draw_annotations
from vlforge.records import Sample
from vlforge.store import atomic_write_bytes
from vlforge.views.release_folder import FolderDamage, ReleaseFolder

log = logging.getLogger(__name__)
GALLERY_SIDE = 320
_SAMPLE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_BATCH = 256


@dataclass(frozen=True)
class BuildResult:
    drawn: int
    cached: int
    failed: dict[str, str]  # sample id -> why
    seconds: float


def thumbnail_path(folder: ReleaseFolder, sample_id: str) -> Path:
    if not _SAMPLE_ID.match(sample_id):
        raise FolderDamage(f"{sample_id!r} is not a sample id")
    return folder.folder().thumbnails / f"{sample_id}.jpg"


def thumbnail(folder: ReleaseFolder, sample: Sample) -> bytes:
    """The sample's thumbnail, from the cache or drawn (and cached when the folder is writable).

    Raises:
        FolderDamage: the sample has no image, or its image cannot be read; the message says which file and why.
    """
    path = thumbnail_path(folder, sample.sample_id)
    if path.is_file():
        return path.read_bytes()
    if not sample.images:
        raise FolderDamage(f"sample {sample.sample_id} has no image to draw ({len(sample.videos)} video(s))")
    image = folder.image_path(sample.images[0].file_name)
    try:
        picture = draw_annotations(image, [sample], side=GALLERY_SIDE)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise FolderDamage(f"image {image.name} of sample {sample.sample_id} cannot be read: {error}") from error
    try:
        atomic_write_bytes(path, picture)
    except OSError as error:
        log.warning("thumbnail of %s not cached in %s: %s", sample.sample_id, path.parent, error)
    return picture


def ensure_thumbnails(folder: ReleaseFolder, samples: list[Sample]) -> dict[str, str]:
    """Draw the missing thumbnails of ``samples``; returns the ones that could not be drawn, with why."""
    failed = {}
    for sample in samples:
        try:
            if not thumbnail_path(folder, sample.sample_id).is_file():
                thumbnail(folder, sample)
        except FolderDamage as damage:
            failed[sample.sample_id] = str(damage)
    return failed


def build_thumbnails(folder: ReleaseFolder) -> BuildResult:
    """Draw every sample's thumbnail that is not cached yet (what the release task or a first view does).

    Returns:
        How many were drawn, how many were cached already, which failed and why, and the time taken.
    """
    started = time.perf_counter()
    index = folder.index()
    missing = [position for position, sample_id in enumerate(index.sample_ids) if not thumbnail_path(folder, sample_id).is_file()]
    failed: dict[str, str] = {}
    for start in range(0, len(missing), _BATCH):
        failed |= ensure_thumbnails(folder, index.samples(missing[start : start + _BATCH]))
    return BuildResult(len(missing) - len(failed), len(index) - len(missing), failed, time.perf_counter() - started)
