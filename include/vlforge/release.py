"""Publishing a release: a content-addressed, immutable folder built from a run's stage after its gates pass.

The version is the first 12 hex characters of the content hash, which covers
the samples (with their image hashes), the quarantine, the resolved recipe and
the seed: the same inputs, recipe and seed give the same version, and a rerun
returns the release that is already there. A release is assembled in a
temporary folder beside its final place and renamed into place, so readers
never see half a release and a failed run leaves the previous one untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from vlforge.config import Recipe
from vlforge.export import export_all
from vlforge.layout import AGREEMENT, INGESTED, MANIFEST, releases_dir
from vlforge.manifest import read_manifest
from vlforge.quality.gates import DATA_DOCS
from vlforge.quality.stage import REVIEW_DIR
from vlforge.records import Sample
from vlforge.report import write_report
from vlforge.store import ImageStore, atomic_write_text

log = logging.getLogger(__name__)
LATEST = "LATEST"


def content_hash(samples: list[Sample], quarantine_text: str, recipe: Recipe, seed: int) -> str:
    """sha256 over the canonical JSON of everything that decides a release's content."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda item: item.sample_id):
        digest.update(json.dumps(sample.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    digest.update(quarantine_text.encode())
    digest.update(recipe.content_hash().encode())
    digest.update(str(seed).encode())
    return digest.hexdigest()


def latest_version(home: Path, dataset: str) -> str | None:
    pointer = releases_dir(home, dataset) / LATEST
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


def publish_release(
    stage: Path, home: Path, dataset: str, recipe: Recipe, seed: int, store: ImageStore, source: dict[str, Any]
) -> dict[str, Any]:
    """Build the release of a staged run and move it into ``releases/<dataset>/<version>``.

    Args:
        stage: the run's stage folder (manifest, quarantine, ingest stats, gate results, Data Docs).
        home: ``VLFORGE_HOME``.
        dataset: the dataset name.
        recipe: the resolved recipe.
        seed: the run's seed.
        store: the image store the manifest refers to.
        source: what the run read (recorded in ``RELEASE.json``).

    Returns:
        ``RELEASE.json``'s content plus ``path`` and ``report``.

    Raises:
        RuntimeError: when a gate result in the stage did not pass.
    """
    gates = [json.loads(path.read_text()) for path in sorted((stage / "gates").glob("*.json"))]
    failed = [gate["name"] for gate in gates if not gate["passed"]]
    if failed or not gates:
        raise RuntimeError(f"release refused: gates not passed in {stage}: {failed or 'no gate results'}")
    samples = read_manifest(stage / MANIFEST)
    quarantine_text = (stage / "quarantine.jsonl").read_text(encoding="utf-8")
    digest = content_hash(samples, quarantine_text, recipe, seed)
    version = digest[:12]
    parent_dir = releases_dir(home, dataset)
    final = parent_dir / version
    if final.is_dir():
        log.info("release %s/%s already exists with the same content; nothing to do", dataset, version)
        return _published(final)
    parent_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=parent_dir))
    try:
        release = _assemble(building, stage, samples, quarantine_text, gates, store, recipe, seed, dataset, source)
        release.update(version=version, content_hash=digest, parent_version=latest_version(home, dataset))
        write_report(
            building,
            release,
            samples,
            read_manifest(stage / INGESTED),
            pd.read_parquet(stage / AGREEMENT),
            recipe.quality,
            store,
            recipe.report.samples_drawn,
            seed,
        )
        atomic_write_text(building / "RELEASE.json", json.dumps(release, indent=2, sort_keys=True, ensure_ascii=False))
        os.chmod(building, 0o755)
        os.rename(building, final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    atomic_write_text(parent_dir / LATEST, version + "\n")
    log.info("released %s/%s: %d samples", dataset, version, len(samples))
    return _published(final)


def _published(folder: Path) -> dict[str, Any]:
    release = json.loads((folder / "RELEASE.json").read_text(encoding="utf-8"))
    return {**release, "path": str(folder), "report": str(folder / "report.html")}


def _assemble(
    building: Path,
    stage: Path,
    samples: list[Sample],
    quarantine_text: str,
    gates: list[dict[str, Any]],
    store: ImageStore,
    recipe: Recipe,
    seed: int,
    dataset: str,
    source: dict[str, Any],
) -> dict[str, Any]:
    shutil.copyfile(stage / MANIFEST, building / MANIFEST)
    shutil.copyfile(stage / AGREEMENT, building / AGREEMENT)
    atomic_write_text(building / "quarantine.jsonl", quarantine_text)
    shutil.copytree(stage / REVIEW_DIR, building / REVIEW_DIR)
    # Every ingested round is released, superseded by a round of the same image, or in review:
    # the review tasks need their images too.
    for image in {image for sample in read_manifest(stage / INGESTED) for image in sample.images}:
        store.link_into(image.sha256, image.format, building / "images")
    exports = export_all(samples, building / "exports", dataset, recipe)
    docs = stage / DATA_DOCS
    if docs.is_dir():
        shutil.copytree(docs, building / "gx")
    ingest_stats = json.loads((stage / "ingest_stats.json").read_text(encoding="utf-8"))
    counts = {key: ingest_stats[key] for key in ("rows_in", "rows_ok", "rows_quarantined", "quarantine_share")}
    counts |= json.loads((stage / "agreement_stats.json").read_text(encoding="utf-8"))
    counts["by_task_type"] = dict(sorted(Counter(sample.task_type for sample in samples).items()))
    counts["images"] = len({image.sha256 for sample in samples for image in sample.images})
    return {
        "dataset": dataset,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": counts,
        "gates": gates,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_hash": recipe.content_hash(),
        "seed": seed,
        "source": source,
        "exports": exports,
    }
