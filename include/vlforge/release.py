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

A release of any size is built in the memory of a few batches of samples: the run's manifests are read
``BATCH_ROWS`` samples at a time, once for the content hash and the counts and once for the release's
manifest, which pass also spools each split's samples for the export formats to read one at a time;
what is kept across a pass is compact (each sample's split, the distinct image and video hashes, counts).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Self

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vlforge.config import Recipe
from vlforge.export import export_all_streaming
from vlforge.gates import gate_summaries
from vlforge.layout import DatasetReleases, ReleaseDir, RunDir, is_object_store
from vlforge.manifest import iter_split_manifest, read_batches, read_columns, write_split_manifest
from vlforge.numerics import numerics_record, stored_metric
from vlforge.quality.agreement import METRICS
from vlforge.records import Sample
from vlforge.report import write_report
from vlforge.run import RunDescription
from vlforge.storage import read_url_text, relative_key
from vlforge.store import atomic_write_text

log = logging.getLogger(__name__)
# Samples from which a release writes its export formats in parallel processes: forking them and reading the
# spools once per process costs about a tenth of a second, a tenth of the exports of 1,000 samples.
PARALLEL_EXPORTS_FROM = 1000


def metric_means(agreement: pd.DataFrame) -> dict[str, Any]:
    """The dataset's mean of each agreement metric over the items that measured it, overall and per task type.

    The same numbers as the quality gate's: every compared item of ``agreement.parquet`` counts,
    released or in review. A metric no item measured is ``None``.

    Args:
        agreement: the agreement table (``AgreementResult.table()``), or its ``task_type`` and metric columns.

    Returns:
        ``{metric: mean | None, ..., "by_task_type": {task_type: {metric: mean | None}}}``.
    """

    def means(rows: pd.DataFrame) -> dict[str, float | None]:
        values = {name: float(rows[name].mean()) if len(rows) else math.nan for name in METRICS}
        return {name: None if math.isnan(value) else stored_metric(value) for name, value in values.items()}

    by_task_type = {str(task_type): means(rows) for task_type, rows in agreement.groupby("task_type", sort=True)}
    return {**means(agreement), "by_task_type": by_task_type}


def sample_json(sample: Sample) -> bytes:
    """A sample's canonical JSON, as the content hash covers it."""
    return json.dumps(sample.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode()


def content_hash(sample_jsons: Iterable[bytes], quarantine_text: str, recipe: Recipe, seed: int) -> str:
    """sha256 over the canonical JSON of everything that decides a release's content.

    Args:
        sample_jsons: each released sample's ``sample_json``, in sample id order (ties in release order).
        quarantine_text: the run's quarantine file.
        recipe: the resolved recipe.
        seed: the run's seed.
    """
    digest = hashlib.sha256()
    for canonical in sample_jsons:
        digest.update(canonical)
        digest.update(b"\n")
    digest.update(quarantine_text.encode())
    digest.update(recipe.content_hash().encode())
    digest.update(str(seed).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ReleasedManifests:
    """The run's manifests whose samples a release holds, in release order: curated, then composed, augmented, synthesized."""

    paths: tuple[Path, ...]

    @classmethod
    def of(cls, run_dir: RunDir) -> ReleasedManifests:
        derived = (run_dir.composed, run_dir.augmented, run_dir.synthesized)
        return cls((run_dir.curated, *(path for path in derived if path.is_file())))

    def samples(self) -> Iterator[tuple[Sample, str]]:
        """Every released sample with its split, in release order, a batch at a time."""
        for path in self.paths:
            yield from iter_split_manifest(path)

    def sample_ids(self) -> pa.ChunkedArray:
        """Every released sample's id, in release order, as one compact column."""
        return pa.chunked_array([read_columns(path, ["sample_id"]).column("sample_id").combine_chunks() for path in self.paths])


@dataclass(frozen=True)
class ReleasedSamples:
    """What a release needs to know of all its samples at once, gathered in one pass: each one's split and a few counts."""

    content_hash: str
    splits: list[str]
    by_task_type: Counter[str]
    synthetic: int
    # (sha256, format) of the samples' images (linked into the release) and videos (counted).
    images: set[tuple[str, str]]
    videos: set[tuple[str, str]]


def scan_released(
    manifests: ReleasedManifests, quarantine_text: str, recipe: Recipe, seed: int, spool_dir: Path
) -> ReleasedSamples:
    """One pass over the released samples: the content hash, each sample's split and the counts.

    The hash covers the samples in id order, and the manifests are in release order: each sample's
    canonical JSON goes to a temporary file in ``spool_dir`` as it is read, and is read back from there
    in the order of the id column, so no more than one batch of samples is ever in memory.
    """
    splits: list[str] = []
    by_task_type: Counter[str] = Counter()
    synthetic = 0
    images: set[tuple[str, str]] = set()
    videos: set[tuple[str, str]] = set()
    offsets = array("q", [0])
    with tempfile.TemporaryFile(dir=spool_dir, prefix=".content.") as spool:
        for sample, split in manifests.samples():
            canonical = sample_json(sample)
            spool.write(canonical)
            offsets.append(offsets[-1] + len(canonical))
            splits.append(sys.intern(split))  # one string per split name, not one per sample
            by_task_type[sample.task_type] += 1
            synthetic += sample.synthetic
            images |= {(image.sha256, image.format) for image in sample.images}
            videos |= {(video.sha256, video.format) for video in sample.videos}
        # A stable sort, as sorted() is; UTF-8 byte order is code point order, as Python compares strings.
        order = pc.sort_indices(manifests.sample_ids()).to_numpy()
        if len(order) != len(splits):
            raise RuntimeError(f"manifests {[str(path) for path in manifests.paths]} changed while the release read them")

        def in_id_order() -> Iterator[bytes]:
            for index in order:
                spool.seek(offsets[index])
                yield spool.read(offsets[index + 1] - offsets[index])

        digest = content_hash(in_id_order(), quarantine_text, recipe, seed)
    return ReleasedSamples(digest, splits, by_task_type, synthetic, images, videos)


class SplitSpools:
    """Each split's released samples pickled to a temporary file in ``folder``, for the exports' passes; removed on exit.

    Every export format reads every split once: unpickling a sample this process wrote costs about a
    sixth of converting its manifest row into a ``Sample`` again, and holds no more than one sample.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._paths: dict[str, Path] = {}
        self._writers: dict[str, BinaryIO] = {}

    def add(self, sample: Sample, split: str) -> Sample:
        """Append ``sample`` to ``split``'s file; returns it, so that a pass can spool what goes by."""
        if split not in self._writers:
            descriptor, name = tempfile.mkstemp(dir=self._folder, prefix=f".{split}.", suffix=".pickle")
            self._paths[split], self._writers[split] = Path(name), os.fdopen(descriptor, "wb")
        pickle.dump(sample, self._writers[split], protocol=pickle.HIGHEST_PROTOCOL)
        return sample

    def finish(self) -> None:
        """Close the files being written: before a pass, and before this process forks export workers (a worker
        closing an inherited writer would flush its buffer into the file a second time)."""
        for writer in self._writers.values():
            writer.close()

    def read(self, split: str) -> Iterator[Sample]:
        """A new pass over ``split``'s samples in the order they were added (none for a split never added to)."""
        self.finish()
        if split not in self._paths:
            return
        with self._paths[split].open("rb") as handle:
            while True:
                try:
                    yield pickle.load(handle)
                except EOFError:
                    return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for split, writer in self._writers.items():
            writer.close()
            self._paths[split].unlink(missing_ok=True)


def manifest_media(path: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The (sha256, format) of every image and of every video of a manifest, read from those two columns a batch at a time."""
    found: dict[str, set[tuple[str, str]]] = {"images": set(), "videos": set()}
    for batch in read_batches(path, list(found)):
        for column, media in found.items():
            flat = pc.list_flatten(batch.column(column))
            media |= set(
                zip(pc.struct_field(flat, "sha256").to_pylist(), pc.struct_field(flat, "format").to_pylist(), strict=True)
            )
    return found["images"], found["videos"]


def export_workers(samples: int) -> int:
    """Processes that write a release's export formats side by side: every core this process may use, from
    ``PARALLEL_EXPORTS_FROM`` samples on; one where this process may not start any (a task that Celery's
    prefork pool runs is daemonic, and multiprocessing refuses children to a daemonic process)."""
    if samples < PARALLEL_EXPORTS_FROM or multiprocessing.current_process().daemon:
        return 1
    return len(os.sched_getaffinity(0))


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
    manifests = ReleasedManifests.of(run_dir)
    quarantine_text = run_dir.quarantine.read_text(encoding="utf-8")
    releases, shared = run.releases, run.object_store
    releases.path.mkdir(parents=True, exist_ok=True)
    released = scan_released(manifests, quarantine_text, recipe, run.seed, releases.path)
    log.info("release %s: %d samples read, content hash %s", run.dataset, len(released.splits), released.content_hash[:12])
    digest = released.content_hash
    version = digest[:12]
    final = releases.version(version)
    if shared.is_published(run.dataset, version) if shared else final.path.is_dir():
        log.info("release %s/%s already exists with the same content; nothing to do", run.dataset, version)
        return read_release(shared.url(shared.release_key(run.dataset, version)) if shared else final.path)
    building = ReleaseDir(Path(tempfile.mkdtemp(prefix=f".{version}.", dir=releases.path)))
    try:
        release = _assemble(building, run, manifests, released, quarantine_text, gates)
        parent = shared.latest_version(run.dataset) if shared else releases.latest_version()
        release.update(version=version, content_hash=digest, parent_version=parent)
        # Before the report, which renders the release from its folder like the dashboard does.
        atomic_write_text(building.release_json, json.dumps(release, indent=2, sort_keys=True, ensure_ascii=False))
        write_report(
            building.path, release, run_dir.ingested, run_dir.agreement, recipe.quality, store, recipe.report.samples_drawn
        )
        os.chmod(building.path, 0o755)
        os.rename(building.path, final.path)
    except BaseException as error:
        shutil.rmtree(building.path, ignore_errors=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(error, releases, f"{run.dataset}/{version}") from error
        raise
    log.info("released %s/%s: %d samples", run.dataset, version, len(released.splits))
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
    manifests: ReleasedManifests,
    released: ReleasedSamples,
    quarantine_text: str,
    gates: list[dict[str, Any]],
) -> dict[str, Any]:
    run_dir, recipe, store = run.run_dir, run.recipe, run.store
    shutil.copyfile(run_dir.agreement, building.agreement)
    atomic_write_text(building.quarantine, quarantine_text)
    shutil.copyfile(run_dir.curate_drops, building.curate_drops)
    shutil.copytree(run_dir.review, building.review)
    # Every ingested round is released, superseded by a round of the same image, or in review:
    # the review tasks need their images too.
    ingested_images, ingested_videos = manifest_media(run_dir.ingested)
    for sha256, image_format in sorted(ingested_images | released.images):
        store.link_into(sha256, image_format, building.images)
    for sha256, video_format in sorted(ingested_videos):
        store.link_into(sha256, video_format, building.videos)
    log.info("release: %d images and %d videos linked in", len(ingested_images | released.images), len(ingested_videos))
    with SplitSpools(building.path) as spools:
        spooled = (spools.add(sample, split) for sample, split in manifests.samples())
        write_split_manifest(spooled, released.splits, building.manifest)
        spools.finish()
        workers = export_workers(len(released.splits))
        exports = export_all_streaming(spools.read, building.exports, run.dataset, recipe, workers)
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
    counts["samples"] = len(released.splits)
    counts["by_task_type"] = dict(sorted(released.by_task_type.items()))
    counts["by_split"] = {split: released.splits.count(split) for split in curate_stats["splits"]}
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
    counts["synthetic"] = released.synthetic
    counts["synthetic_share"] = released.synthetic / len(released.splits) if released.splits else 0.0
    counts["images"] = len({sha256 for sha256, _ in released.images})
    counts["videos"] = len({sha256 for sha256, _ in released.videos})
    counts["exports"] = {name: result.counts() for name, result in exports.items()}
    return {
        "dataset": run.dataset,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": counts,
        # Only the columns the means need: the item ids are one string per item.
        "metrics": metric_means(pd.read_parquet(run_dir.agreement, columns=["task_type", *METRICS])),
        "gates": gates,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_hash": recipe.content_hash(),
        "seed": run.seed,
        "source": run.source_record(),
        "exports": {name: list(result.files) for name, result in exports.items()},
        "numerics": numerics_record(recipe, run.phase),
    }
