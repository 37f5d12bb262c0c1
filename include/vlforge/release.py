"""Publishing a release: a content-addressed, immutable folder built from a run folder after its gates pass.

The release holds the curated samples and, when the run augmented its train split, the augmented
copies as ``train`` samples with their lineage. The version is the first 12 hex characters of the
content hash, which covers those samples (with their image hashes), the quarantine, the resolved
recipe and the seed: the same inputs, recipe and seed give the same version, and a rerun returns
the release that is already there. A release is assembled in a temporary folder beside its final
place and renamed into place, so readers never see half a release and a failed run leaves the
previous one untouched. ``RELEASE.json`` carries the dataset's metric means (``metrics``, at the
precision that ``numerics`` states, with any output that may differ between CPUs) and its counts
per task type and split and synthetic share, which ``vlforge.compare`` and the catalog read;
``exports`` lists each format's files (one set per split, see ``vlforge.export``) and
``counts.exports`` the samples each format wrote per split and left out per reason (video samples
in formats that cannot hold video). Promotion to ``current`` is ``vlforge.promotion``'s job.

With an object-store ``VLFORGE_HOME`` the release is built and renamed the same way in the task's
working copy, then uploaded with ``RELEASE.json`` last (``storage.ObjectStoreHome.publish_release``):
there a version folder is a release once its ``RELEASE.json`` is there, and ``path`` is its URL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
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
from vlforge.gates import gate_summaries
from vlforge.layout import DatasetReleases, ReleaseDir, is_object_store
from vlforge.manifest import read_manifest, read_split_manifest, write_split_manifest
from vlforge.numerics import numerics_record, stored_metric
from vlforge.quality.agreement import METRICS
from vlforge.records import Sample
from vlforge.report import write_report
from vlforge.run import RunDescription
from vlforge.storage import read_url_text, relative_key
from vlforge.store import atomic_write_text

log = logging.getLogger(__name__)


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
        return {name: None if math.isnan(value) else stored_metric(value) for name, value in values.items()}

    by_task_type = {str(task_type): means(rows) for task_type, rows in agreement.groupby("task_type", sort=True)}
    return {**means(agreement), "by_task_type": by_task_type}


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
    return DatasetReleases.of(home, dataset).latest_version()


def publish_release(run: RunDescription) -> dict[str, Any]:
    """Build the release of a run whose gates passed and move it into ``releases/<dataset>/<version>``.

    Args:
        run: the run; its folder holds the curated manifest, the augmented copies, the quarantine,
            the counts, the gate summaries and the Data Docs.

    Returns:
        ``RELEASE.json``'s content plus ``path`` and ``report``.

    Raises:
        RuntimeError: when a gate of the run did not pass, or none ran.
    """
    run_dir, recipe, store = run.run_dir, run.recipe, run.store
    gates = gate_summaries(run_dir)
    failed = [gate["name"] for gate in gates if not gate["passed"]]
    if failed or not gates:
        raise RuntimeError(f"release refused: gates not passed in {run_dir.path}: {failed or 'no gate results'}")
    samples, splits = read_split_manifest(run_dir.curated)
    for derived in (run_dir.composed, run_dir.augmented, run_dir.synthesized):
        if derived.is_file():
            more, more_splits = read_split_manifest(derived)
            samples, splits = samples + more, splits + more_splits
    quarantine_text = run_dir.quarantine.read_text(encoding="utf-8")
    digest = content_hash(samples, quarantine_text, recipe, run.seed)
    version = digest[:12]
    releases, shared = run.releases, run.object_store
    final = releases.version(version)
    if shared.is_published(run.dataset, version) if shared else final.path.is_dir():
        log.info("release %s/%s already exists with the same content; nothing to do", run.dataset, version)
        return read_release(shared.url(shared.release_key(run.dataset, version)) if shared else final.path)
    releases.path.mkdir(parents=True, exist_ok=True)
    building = ReleaseDir(Path(tempfile.mkdtemp(prefix=f".{version}.", dir=releases.path)))
    try:
        ingested, agreement = read_manifest(run_dir.ingested), pd.read_parquet(run_dir.agreement)
        release = _assemble(building, run, samples, splits, ingested, agreement, quarantine_text, gates)
        parent = shared.latest_version(run.dataset) if shared else releases.latest_version()
        release.update(version=version, content_hash=digest, parent_version=parent)
        # Before the report, which renders the release from its folder like the dashboard does.
        atomic_write_text(building.release_json, json.dumps(release, indent=2, sort_keys=True, ensure_ascii=False))
        write_report(
            building.path,
            release,
            samples,
            ingested,
            agreement,
            recipe.quality,
            store,
            recipe.report.samples_drawn,
        )
        os.chmod(building.path, 0o755)
        os.rename(building.path, final.path)
    except BaseException as error:
        shutil.rmtree(building.path, ignore_errors=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(error, releases, f"{run.dataset}/{version}") from error
        raise
    log.info("released %s/%s: %d samples", run.dataset, version, len(samples))
    if shared:
        return read_release(shared.publish_release(final.path, run.dataset, version))
    atomic_write_text(releases.latest, version + "\n")
    return read_release(final.path)


def _no_space(error: OSError, releases: DatasetReleases, name: str) -> OSError:
    """The error of a release that ran out of disk or quota: what, where, how much is free, and that nothing changed."""
    free = shutil.disk_usage(releases.path).free if releases.path.is_dir() else None
    previous = releases.latest_version()
    return OSError(
        error.errno,
        f"release {name} not published: {error.strerror} writing {error.filename} "
        f"({'unknown' if free is None else f'{free / 2**20:.1f} MiB'} free on {releases.path}); its partial folder is removed "
        f"and the previous release ({previous or 'none'}) and current are unchanged. Free space and rerun.",
    )


def read_release(folder: Path | str) -> dict[str, Any]:
    """A published release's ``RELEASE.json`` plus ``path`` and ``report``; ``folder`` may be an object store's URL."""
    if is_object_store(str(folder)):
        names, url = ReleaseDir(Path()), str(folder).rstrip("/")
        content = json.loads(read_url_text(f"{url}/{relative_key(names.release_json)}"))
        return {**content, "path": url, "report": f"{url}/{relative_key(names.report)}"}
    release = ReleaseDir(Path(folder))
    content = json.loads(release.release_json.read_text(encoding="utf-8"))
    return {**content, "path": str(release.path), "report": str(release.report)}


def _assemble(
    building: ReleaseDir,
    run: RunDescription,
    samples: list[Sample],
    splits: list[str],
    ingested: list[Sample],
    agreement: pd.DataFrame,
    quarantine_text: str,
    gates: list[dict[str, Any]],
) -> dict[str, Any]:
    run_dir, recipe, store = run.run_dir, run.recipe, run.store
    write_split_manifest(samples, splits, building.manifest)
    shutil.copyfile(run_dir.agreement, building.agreement)
    atomic_write_text(building.quarantine, quarantine_text)
    shutil.copyfile(run_dir.curate_drops, building.curate_drops)
    shutil.copytree(run_dir.review, building.review)
    # Every ingested round is released, superseded by a round of the same image, or in review:
    # the review tasks need their images too.
    for image in {image for sample in [*ingested, *samples] for image in sample.images}:
        store.link_into(image.sha256, image.format, building.images)
    for video in {video for sample in ingested for video in sample.videos}:
        store.link_into(video.sha256, video.format, building.videos)
    exports = export_all(samples, splits, building.exports, run.dataset, recipe)
    if run_dir.data_docs.is_dir():
        shutil.copytree(run_dir.data_docs, building.data_docs)
    # Every expectation's full result: the dashboard and the report render gates from it, offline.
    for gate in gates:
        building.gate_results(gate["name"]).parent.mkdir(exist_ok=True)
        shutil.copyfile(run_dir.gate_results(gate["name"]), building.gate_results(gate["name"]))
    ingest_stats = json.loads(run_dir.ingest_stats.read_text(encoding="utf-8"))
    counts = {key: ingest_stats[key] for key in ("rows_in", "rows_ok", "rows_quarantined", "quarantine_share")}
    counts |= json.loads(run_dir.agreement_stats.read_text(encoding="utf-8"))
    curate_stats = json.loads(run_dir.curate_stats.read_text(encoding="utf-8"))
    counts["curate"] = {key: curate_stats[key] for key in ("samples_in", "kept", "dropped", "dropped_by_reason")}
    counts["samples"] = len(samples)
    counts["by_task_type"] = dict(sorted(Counter(sample.task_type for sample in samples).items()))
    counts["by_split"] = {split: splits.count(split) for split in curate_stats["splits"]}
    if run_dir.compose_stats.is_file():
        counts["compose"] = json.loads(run_dir.compose_stats.read_text(encoding="utf-8"))
    if run_dir.packing.is_file():
        shutil.copyfile(run_dir.packing, building.packing)
    if run_dir.augment_stats.is_file():
        augment_stats = json.loads(run_dir.augment_stats.read_text(encoding="utf-8"))
        counts["augment"] = {key: augment_stats[key] for key in ("phase", "augmented", "dropped", "ops", "paraphrase")}
    if run_dir.synth_stats.is_file():
        counts["synth"] = json.loads(run_dir.synth_stats.read_text(encoding="utf-8"))
        shutil.copyfile(run_dir.synth_quarantine, building.synth_quarantine)
    counts["synthetic"] = sum(sample.synthetic for sample in samples)
    counts["synthetic_share"] = counts["synthetic"] / len(samples) if samples else 0.0
    counts["images"] = len({image.sha256 for sample in samples for image in sample.images})
    counts["videos"] = len({video.sha256 for sample in samples for video in sample.videos})
    counts["exports"] = {name: result.counts() for name, result in exports.items()}
    return {
        "dataset": run.dataset,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": counts,
        "metrics": metric_means(agreement),
        "gates": gates,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_hash": recipe.content_hash(),
        "seed": run.seed,
        "source": run.source_record(),
        "exports": {name: list(result.files) for name, result in exports.items()},
        "numerics": numerics_record(recipe, run.phase),
    }
