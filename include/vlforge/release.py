"""Publishing a release: a content-addressed, immutable folder built from a run's stage after its gates pass.

Between the quality gate and publishing, ``run_curate`` filters, budgets,
deduplicates and splits the samples to release (``vlforge.curate``) and stages
them as ``curated.parquet`` (the manifest's columns plus ``split``), with
``curate_stats.json`` and the dropped samples in ``curate_drops.jsonl``.

When the run augmented its train split (``vlforge.augment.stage``), the copies in
``augmented.parquet`` join the release as ``train`` samples with their lineage.

The version is the first 12 hex characters of the content hash, which covers
the curated samples and augmented copies (with their image hashes), the quarantine, the resolved
recipe and the seed: the same inputs, recipe and seed give the same version, and
a rerun returns the release that is already there. A release is assembled in a
temporary folder beside its final place and renamed into place, so readers
never see half a release and a failed run leaves the previous one untouched.
``RELEASE.json`` carries the dataset's metric means (``metrics``) and its counts
per task type and split and synthetic share, which ``vlforge.compare`` and the
catalog read; ``exports`` lists each format's files (one set per split, see
``vlforge.export``) and ``counts.exports`` the samples each format wrote per split
and left out per reason (video samples in formats that cannot hold video). The
release's images are linked into ``images/`` and its videos into ``videos/``. Promotion to ``current`` is ``vlforge.promotion``'s job. No
Airflow wiring lives here.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.augment.stage import AUGMENT_STATS, AUGMENTED, AUGMENTED_SPLIT, read_augmented
from vlforge.config import Recipe
from vlforge.curate import CurateResult, curate
from vlforge.curate.downscale import downscale_sample, smallest_sizes
from vlforge.export import export_all
from vlforge.layout import AGREEMENT, INGESTED, MANIFEST, releases_dir
from vlforge.manifest import SCHEMA, read_manifest, samples_to_table, table_to_samples
from vlforge.quality.agreement import METRICS
from vlforge.quality.gates import DATA_DOCS
from vlforge.quality.stage import REVIEW_DIR
from vlforge.records import Sample
from vlforge.report import write_report
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)
LATEST = "LATEST"
# The curate stage's files, in the run's stage; the release's manifest.parquet is CURATED.
CURATED = "curated.parquet"
CURATE_STATS = "curate_stats.json"
CURATE_DROPS = "curate_drops.jsonl"
SPLIT_COLUMN = "split"


def run_curate(stage: Path, store: ImageStore, recipe: Recipe, seed: int) -> dict[str, Any]:
    """Curate the samples the quality stage kept: filters, token budgets, dedup and splits.

    Args:
        stage: the run's stage folder; reads ``manifest.parquet``.
        store: the image store the manifest refers to (dedup hashes the images).
        recipe: the resolved recipe (its ``curate`` section).
        seed: the run's seed (the splits).

    Returns:
        ``curate_stats.json``'s content: kept, dropped, dropped per reason, samples per split,
        and the seed and curate settings' hash it was made with.
    """
    samples = read_manifest(stage / MANIFEST)
    result = curate(samples, store, recipe.curate, seed)
    # A sample over a model's visual-token budget with over_budget: downscale is released resized.
    result = replace(
        result,
        kept=tuple(
            replace(kept, sample=downscale_sample(kept.sample, smallest_sizes(kept.resize_to), store)) if kept.resize_to else kept
            for kept in result.kept
        ),
    )
    write_curated(result, stage / CURATED)
    drops = "".join(json.dumps(drop.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for drop in result.dropped)
    atomic_write_text(stage / CURATE_DROPS, drops)
    stats = {"samples_in": len(samples), **result.to_json(), "seed": seed, "curate_hash": _curate_hash(recipe)}
    atomic_write_text(stage / CURATE_STATS, json.dumps(stats, indent=2, sort_keys=True))
    return stats


def write_curated(result: CurateResult, path: Path) -> int:
    """The kept samples as a manifest with a ``split`` column, atomically; returns the row count."""
    return write_split_manifest([kept.sample for kept in result.kept], [kept.split for kept in result.kept], path)


def write_split_manifest(samples: list[Sample], splits: list[str], path: Path) -> int:
    """Samples as a manifest with a ``split`` column, atomically; returns the row count."""
    table = samples_to_table(samples)
    table = table.append_column(SPLIT_COLUMN, pa.array(splits, type=pa.string()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    atomic_write_bytes(path, buffer.getvalue())
    return table.num_rows


def read_curated(path: Path) -> tuple[list[Sample], list[str]]:
    """A curated manifest (``write_curated``): the samples and each one's split, in file order."""
    table = pq.read_table(path)
    splits = [str(split) for split in table.column(SPLIT_COLUMN).to_pylist()]
    return table_to_samples(table.select(SCHEMA.names)), splits


def metric_means(agreement: pd.DataFrame) -> dict[str, Any]:
    """The dataset's mean of each agreement metric over the items that measured it, overall and per task type.

    The same numbers as the quality gate's: every compared item of ``agreement.parquet`` counts,
    released or in review. A metric no item measured is ``None``.

    Args:
        agreement: the agreement table (``AgreementResult.table()``).

    Returns:
        ``{metric: mean | None, ..., "by_task_type": {task_type: {metric: mean | None}}}``.
    """

    def means(rows: pd.DataFrame) -> dict[str, float | None]:
        values = {name: float(rows[name].mean()) if len(rows) else math.nan for name in METRICS}
        return {name: None if math.isnan(value) else value for name, value in values.items()}

    by_task_type = {str(task_type): means(rows) for task_type, rows in agreement.groupby("task_type", sort=True)}
    return {**means(agreement), "by_task_type": by_task_type}


def _curate_hash(recipe: Recipe) -> str:
    return hashlib.sha256(json.dumps(recipe.curate.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _curated(stage: Path, store: ImageStore, recipe: Recipe, seed: int) -> tuple[list[Sample], list[str]]:
    """The stage's curated samples, curating first when the stage has none for this recipe and seed."""
    stats_path = stage / CURATE_STATS
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else {}
    if (stats.get("seed"), stats.get("curate_hash")) != (seed, _curate_hash(recipe)) or not (stage / CURATED).is_file():
        run_curate(stage, store, recipe, seed)
    return read_curated(stage / CURATED)


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
    samples, splits = _curated(stage, store, recipe, seed)
    copies = read_augmented(stage / AUGMENTED) if (stage / AUGMENTED).is_file() else []
    samples, splits = samples + copies, splits + [AUGMENTED_SPLIT] * len(copies)
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
        ingested, agreement = read_manifest(stage / INGESTED), pd.read_parquet(stage / AGREEMENT)
        release = _assemble(
            building, stage, samples, splits, ingested, agreement, quarantine_text, gates, store, recipe, seed, dataset, source
        )
        release.update(version=version, content_hash=digest, parent_version=latest_version(home, dataset))
        write_report(
            building,
            release,
            samples,
            ingested,
            agreement,
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


def read_release(folder: Path) -> dict[str, Any]:
    """A published release's ``RELEASE.json`` plus ``path`` and ``report``."""
    return _published(Path(folder))


def _published(folder: Path) -> dict[str, Any]:
    release = json.loads((folder / "RELEASE.json").read_text(encoding="utf-8"))
    return {**release, "path": str(folder), "report": str(folder / "report.html")}


def _assemble(
    building: Path,
    stage: Path,
    samples: list[Sample],
    splits: list[str],
    ingested: list[Sample],
    agreement: pd.DataFrame,
    quarantine_text: str,
    gates: list[dict[str, Any]],
    store: ImageStore,
    recipe: Recipe,
    seed: int,
    dataset: str,
    source: dict[str, Any],
) -> dict[str, Any]:
    write_split_manifest(samples, splits, building / MANIFEST)
    shutil.copyfile(stage / AGREEMENT, building / AGREEMENT)
    atomic_write_text(building / "quarantine.jsonl", quarantine_text)
    shutil.copyfile(stage / CURATE_DROPS, building / CURATE_DROPS)
    shutil.copytree(stage / REVIEW_DIR, building / REVIEW_DIR)
    # Every ingested round is released, superseded by a round of the same image, or in review:
    # the review tasks need their images too.
    for image in {image for sample in [*ingested, *samples] for image in sample.images}:
        store.link_into(image.sha256, image.format, building / "images")
    for video in {video for sample in ingested for video in sample.videos}:
        store.link_into(video.sha256, video.format, building / "videos")
    exports = export_all(samples, splits, building / "exports", dataset, recipe)
    docs = stage / DATA_DOCS
    if docs.is_dir():
        shutil.copytree(docs, building / "gx")
    ingest_stats = json.loads((stage / "ingest_stats.json").read_text(encoding="utf-8"))
    counts = {key: ingest_stats[key] for key in ("rows_in", "rows_ok", "rows_quarantined", "quarantine_share")}
    counts |= json.loads((stage / "agreement_stats.json").read_text(encoding="utf-8"))
    curate_stats = json.loads((stage / CURATE_STATS).read_text(encoding="utf-8"))
    counts["curate"] = {key: curate_stats[key] for key in ("samples_in", "kept", "dropped", "dropped_by_reason")}
    counts["samples"] = len(samples)
    counts["by_task_type"] = dict(sorted(Counter(sample.task_type for sample in samples).items()))
    counts["by_split"] = {split: splits.count(split) for split in curate_stats["splits"]}
    if (stage / AUGMENT_STATS).is_file():
        augment_stats = json.loads((stage / AUGMENT_STATS).read_text(encoding="utf-8"))
        counts["augment"] = {key: augment_stats[key] for key in ("phase", "augmented", "dropped", "ops", "paraphrase")}
    counts["synthetic"] = sum(sample.synthetic for sample in samples)
    counts["synthetic_share"] = counts["synthetic"] / len(samples) if samples else 0.0
    counts["images"] = len({image.sha256 for sample in samples for image in sample.images})
    counts["videos"] = len({video.sha256 for sample in samples for video in sample.videos})
    counts["exports"] = {name: result.counts() for name, result in exports.items()}
    return {
        "dataset": dataset,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": counts,
        "metrics": metric_means(agreement),
        "gates": gates,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_hash": recipe.content_hash(),
        "seed": seed,
        "source": source,
        "exports": {name: list(result.files) for name, result in exports.items()},
    }
