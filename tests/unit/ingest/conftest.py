"""Ingest test helpers: stand-in images, one ingest run that checks the row invariant, box corners."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vlforge.config import Recipe
from vlforge.ingest import run_ingest
from vlforge.manifest import read_manifest
from vlforge.prepare import prepare_run
from vlforge.records import Box, Sample

_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


@dataclass(frozen=True)
class Ingested:
    """What one ``run_ingest`` wrote, read back: the manifest's samples, the quarantine lines and the counts."""

    samples: list[Sample]
    quarantine: list[dict[str, str]]
    stats: dict[str, Any]
    store_dir: Path

    def stored_files(self) -> list[Path]:
        return sorted(path for path in self.store_dir.rglob("*") if path.is_file())

    def sample(self, record_id: str) -> Sample:
        (found,) = [sample for sample in self.samples if sample.source.record_id == record_id]
        return found


@pytest.fixture
def ingest(tmp_path: Path, recipe: Recipe) -> Callable[..., Ingested]:
    """Run the real ingest (adapters, checks, manifest, quarantine) and check ``rows_in == rows_ok + rows_quarantined``."""
    runs = itertools.count()

    def run(source: Path | str, source_format: str, images_root: Path | str | list[Path] | None = None) -> Ingested:
        root = [str(path) for path in images_root] if isinstance(images_root, list) else images_root and str(images_root)
        described = prepare_run(
            tmp_path, "ingested", f"run-{next(runs)}", recipe, source=str(source), source_format=source_format, images_root=root
        )
        stats = run_ingest(described)
        run_dir = described.run_dir
        samples = read_manifest(run_dir.ingested)
        quarantine = [json.loads(line) for line in run_dir.quarantine.read_text(encoding="utf-8").splitlines()]
        written = json.loads(run_dir.ingest_stats.read_text(encoding="utf-8"))
        assert stats["rows_in"] == stats["rows_ok"] + stats["rows_quarantined"]
        assert (stats["rows_ok"], stats["rows_quarantined"]) == (len(samples), len(quarantine))
        assert {key: written[key] for key in ("rows_in", "rows_ok", "rows_quarantined")} == {
            key: stats[key] for key in ("rows_in", "rows_ok", "rows_quarantined")
        }
        return Ingested(samples=samples, quarantine=quarantine, stats=stats, store_dir=described.store_dir)

    return run


@pytest.fixture
def stand_in() -> Callable[..., bytes]:
    """Write a solid-colour image of the given size (format from the suffix, PNG for none) and return its bytes."""

    def make(path: Path, width: int, height: int, color: tuple[int, int, int] = (180, 40, 40)) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), color).save(buffer, format=_PIL_FORMATS.get(path.suffix.lower(), "PNG"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
        return buffer.getvalue()

    return make


@pytest.fixture
def xyxy() -> Callable[[Box], tuple[float, float, float, float]]:
    return lambda box: (box.x1, box.y1, box.x2, box.y2)


@pytest.fixture
def write_json() -> Callable[[Path, Any], Path]:
    def write(path: Path, document: Any) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        return path

    return write


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def sha256() -> Callable[[bytes], str]:
    return sha256_of
