"""Where vlforge keeps things under ``VLFORGE_HOME`` (default ``./data``), and every file name in them.

- ``store/images/``: the content-addressed image store shared by every dataset and worker;
- ``runs/<dataset>/<run>/``: a run folder (``RunDir``), the contract between the tasks of one run:
  each task reads the files earlier tasks wrote there and writes its own;
- ``releases/<dataset>/<version>/``: published releases (``ReleaseDir``), never modified once
  renamed into place, beside the dataset's ``LATEST`` pointer and ``current`` link (``DatasetReleases``);
- ``evaluations/<dataset>/<version>/<run>/``: one evaluation run of a release (``EvaluationDir``), outside
  the release, which evaluation never changes.

No other module spells a run-folder or release-folder file name: they ask these objects.

``VLFORGE_HOME`` may also be an object store's URI (``s3://bucket/prefix`` or any fsspec protocol but
``file``): then the same layout holds under that prefix, a task works on a local copy of its run
folder and ``vlforge.storage`` carries what is shared (ADR 0012). A part that needs a local folder
asks ``vlforge_home`` and is refused with the setting to change.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
HOME_ENV = "VLFORGE_HOME"
# Inside a review folder: a Label Studio import file and the labelling interface it needs.
REVIEW_TASKS_NAME = "review_tasks.json"
LABEL_CONFIG_NAME = "label_config.xml"


class ObjectStoreUnsupported(RuntimeError):
    """A part of vlforge that needs a local folder was given an object-store ``VLFORGE_HOME``."""


def is_object_store(home: str | Path) -> bool:
    """Whether ``home`` is an object store's URI (``s3://bucket/prefix``, ``gs://...``; not ``file://``)."""
    return isinstance(home, str) and bool(_URI.match(home)) and not home.startswith("file://")


def parse_home(home: str | Path) -> str | Path:
    """``VLFORGE_HOME`` as vlforge keeps it: an object store's URI as written, else the absolute local folder."""
    if is_object_store(home):
        return str(home).rstrip("/")
    return Path(str(home).removeprefix("file://")).resolve()


def vlforge_home(purpose: str = "this command", home: str | Path | None = None) -> Path:
    """``VLFORGE_HOME`` (default ``./data``, or ``home`` when given) as a local folder, for a part that needs one.

    Args:
        purpose: what needs the folder, named in the error.
        home: the setting's value, when the caller read it already (a DAG's module constant).

    Raises:
        ObjectStoreUnsupported: ``VLFORGE_HOME`` is an object store's URI; the message names the setting and
            what to do instead (a local or mounted folder), never a silent write beside the current folder.
    """
    value = parse_home(os.environ.get(HOME_ENV, "data") if home is None else home)
    if isinstance(value, str):
        raise ObjectStoreUnsupported(
            f"{HOME_ENV}={value} is an object store, but {purpose} needs a local folder: set {HOME_ENV} to a local "
            "or mounted folder for it (the release DAG is the part that works on an object store, ADR 0012)"
        )
    return value


def checked_name(kind: str, value: str) -> str:
    """Dataset and run names become folder names: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _SAFE_NAME.match(value):
        raise ValueError(f"{kind} {value!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def store_root(home: Path) -> Path:
    return home / "store" / "images"


def run_folder_name(run_id: str) -> str:
    """An Airflow run id (``manual__2026-11-23T10:00:00+00:00``) as a folder name."""
    return checked_name("run", re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:128])


@dataclass(frozen=True)
class SampleFolder:
    """What a run folder and a release folder both hold under the same names."""

    path: Path

    @property
    def manifest(self) -> Path:
        """In a run: one sample per item to release, with its agreement metrics. In a release: the
        released samples with their split (``manifest.write_split_manifest``)."""
        return self.path / "manifest.parquet"

    @property
    def agreement(self) -> Path:
        return self.path / "agreement.parquet"

    @property
    def quarantine(self) -> Path:
        return self.path / "quarantine.jsonl"

    @property
    def curate_drops(self) -> Path:
        return self.path / "curate_drops.jsonl"

    @property
    def review(self) -> Path:
        """Items sent back to annotators: a Label Studio import file and its labelling interface."""
        return self.path / "review"

    @property
    def review_tasks(self) -> Path:
        return self.review / REVIEW_TASKS_NAME

    @property
    def review_label_config(self) -> Path:
        return self.review / LABEL_CONFIG_NAME

    def gate_results(self, name: str) -> Path:
        """Every expectation's full GX result of gate ``name`` (a release keeps its run's)."""
        return self.path / "gx_results" / f"{name}.json"


@dataclass(frozen=True)
class RunDir(SampleFolder):
    """One run's folder, in the order the tasks write it."""

    @classmethod
    def of(cls, home: Path, dataset: str, run: str) -> RunDir:
        return cls(home / "runs" / checked_name("dataset", dataset) / checked_name("run", run))

    # prepare
    @property
    def recipe(self) -> Path:
        """The recipe as resolved and frozen when the run started: every task reads this one."""
        return self.path / "recipe.json"

    # ingest
    @property
    def ingested(self) -> Path:
        """Every ingested round (``manifest.SCHEMA``)."""
        return self.path / "ingested.parquet"

    @property
    def ingest_stats(self) -> Path:
        return self.path / "ingest_stats.json"

    # quality (and the manifest, agreement and review of SampleFolder)
    @property
    def agreement_stats(self) -> Path:
        return self.path / "agreement_stats.json"

    # curate
    @property
    def curated(self) -> Path:
        """The samples to release with their split (``manifest.write_split_manifest``)."""
        return self.path / "curated.parquet"

    @property
    def curate_stats(self) -> Path:
        return self.path / "curate_stats.json"

    # compose
    @property
    def compose_plan(self) -> Path:
        """Every sample to compose (rule, sources, drawn params) and the shards that make them."""
        return self.path / "compose" / "plan.json"

    def compose_shard(self, name: str) -> Path:
        return self.path / "compose" / f"{name}.parquet"

    def compose_shard_counts(self, name: str) -> Path:
        return self.path / "compose" / f"{name}.json"

    @property
    def composed(self) -> Path:
        """Samples composed from the curated train split (a split manifest, all ``train``)."""
        return self.path / "composed.parquet"

    @property
    def compose_stats(self) -> Path:
        return self.path / "compose_stats.json"

    @property
    def packing(self) -> Path:
        return self.path / "packing.json"

    # augment
    @property
    def augment_plan(self) -> Path:
        return self.path / "augment" / "plan.json"

    def augment_shard(self, name: str) -> Path:
        """One shard's copies (``manifest.AUGMENTED_SCHEMA``)."""
        return self.path / "augment" / f"{name}.parquet"

    def augment_shard_counts(self, name: str) -> Path:
        return self.path / "augment" / f"{name}.json"

    @property
    def augmented(self) -> Path:
        return self.path / "augmented.parquet"

    @property
    def augment_stats(self) -> Path:
        return self.path / "augment_stats.json"

    # synthesize (independent of ingest: it starts right after prepare)
    @property
    def synth_plan(self) -> Path:
        return self.path / "synth" / "plan.json"

    def synth_shard(self, name: str) -> Path:
        """One shard's synthetic samples (``manifest.SCHEMA``)."""
        return self.path / "synth" / f"{name}.parquet"

    def synth_shard_checks(self, name: str) -> Path:
        """One row per page or screen check of a shard (the synth gate's input)."""
        return self.path / "synth" / f"{name}.checks.parquet"

    def synth_shard_quarantine(self, name: str) -> Path:
        return self.path / "synth" / f"{name}.quarantine.json"

    @property
    def synthesized(self) -> Path:
        """Every synthetic sample with its split (``manifest.write_split_manifest``)."""
        return self.path / "synthesized.parquet"

    @property
    def synth_checks(self) -> Path:
        return self.path / "synth_checks.parquet"

    @property
    def synth_quarantine(self) -> Path:
        """Pages and screens that failed a check, one JSON object per line, with the reason."""
        return self.path / "synth_quarantine.jsonl"

    @property
    def synth_stats(self) -> Path:
        return self.path / "synth_stats.json"

    # gates
    @property
    def gates(self) -> Path:
        """One summary per gate that ran (``<name>.json``): what a release records."""
        return self.path / "gates"

    def gate_summary(self, name: str) -> Path:
        return self.gates / f"{name}.json"

    @property
    def data_docs(self) -> Path:
        """Where GX builds the run's Data Docs (its file context lives in the run folder)."""
        return self.path / "gx" / "uncommitted" / "data_docs" / "local_site"

    # generated scenes (DAG vlforge_synthesize_scenes): a Label Studio review folder of its own
    @property
    def scenes(self) -> Path:
        """Label Studio's document root for the scene review: the import file, its label config, ``images/``."""
        return self.path / "scenes"

    @property
    def scene_images(self) -> Path:
        """The rendered images, linked from the store under their content-addressed names."""
        return self.scenes / "images"

    def scene_shard(self, index: int) -> Path:
        """One shard's review tasks, dropped scenes and counts."""
        return self.scenes / "shards" / f"shard-{index:05d}.json"

    @property
    def scene_review_tasks(self) -> Path:
        return self.scenes / REVIEW_TASKS_NAME

    @property
    def scene_label_config(self) -> Path:
        return self.scenes / LABEL_CONFIG_NAME

    @property
    def scene_stats(self) -> Path:
        return self.scenes / "scene_stats.json"

    def manifests(self) -> list[Path]:
        """The run's sample tables, most derived first: where a copy and its parent are looked up."""
        return [self.augmented, self.composed, self.synthesized, self.curated, self.manifest, self.ingested]


@dataclass(frozen=True)
class ReleaseDir(SampleFolder):
    """One published release's folder."""

    @property
    def release_json(self) -> Path:
        return self.path / "RELEASE.json"

    @property
    def packing(self) -> Path:
        """Same-task train samples grouped into sequences of at most a token budget (when the recipe packs)."""
        return self.path / "packing.json"

    @property
    def images(self) -> Path:
        return self.path / "images"

    @property
    def videos(self) -> Path:
        return self.path / "videos"

    @property
    def exports(self) -> Path:
        return self.path / "exports"

    @property
    def data_docs(self) -> Path:
        return self.path / "gx"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def report_gallery(self) -> Path:
        """One gallery page beside the report."""
        return self.path / "report_gallery.html"

    @property
    def report_assets(self) -> Path:
        """The report's pictures and ``plotly.min.js``."""
        return self.path / "report_assets"

    @property
    def thumbnails(self) -> Path:
        """The dashboard's gallery thumbnails, ``<sample_id>.jpg``, drawn once; not part of the content hash."""
        return self.path / "thumbnails"

    @property
    def synth_quarantine(self) -> Path:
        """Synthetic pages and screens that failed a check (copied from the run)."""
        return self.path / "synth_quarantine.jsonl"

    def manifests(self) -> list[Path]:
        return [self.manifest]


@dataclass(frozen=True)
class DatasetReleases:
    """``releases/<dataset>/``: one folder per version, the ``LATEST`` pointer, the ``current`` link and unpromoted markers."""

    path: Path

    @classmethod
    def of(cls, home: Path, dataset: str) -> DatasetReleases:
        return cls(home / "releases" / checked_name("dataset", dataset))

    @property
    def latest(self) -> Path:
        """A text file naming the newest published version."""
        return self.path / "LATEST"

    @property
    def current(self) -> Path:
        """A symlink to the promoted version."""
        return self.path / "current"

    def version(self, version: str) -> ReleaseDir:
        return ReleaseDir(self.path / version)

    def unpromoted(self, version: str) -> Path:
        """Beside a published version whose promotion could not reach the catalog: what happened, until a rerun promotes it."""
        return self.path / f"{checked_name('version', version)}.unpromoted.json"

    def latest_version(self) -> str | None:
        return self.latest.read_text(encoding="utf-8").strip() if self.latest.is_file() else None


@dataclass(frozen=True)
class EvaluationDir:
    """One evaluation run of a release: its shard plan, per-shard results, flags, suggestion and report."""

    path: Path

    @classmethod
    def of(cls, home: Path, dataset: str, version: str, run: str) -> EvaluationDir:
        return cls(home / "evaluations" / checked_name("dataset", dataset) / checked_name("version", version) / checked_name("run", run))

    @property
    def plan(self) -> Path:
        """Every evaluator's shards: which sample ids each mapped task scores."""
        return self.path / "plan.json"

    def shard_results(self, evaluator: str, shard: str) -> Path:
        """One shard's per-sample results of one evaluator (a JSON list)."""
        return self.path / checked_name("evaluator", evaluator) / f"{checked_name('shard', shard)}.json"

    def shard_arrays(self, evaluator: str, shard: str) -> Path:
        """One shard's per-sample arrays of one evaluator (``.npz``: e.g. CLIP embeddings)."""
        return self.path / checked_name("evaluator", evaluator) / f"{checked_name('shard', shard)}.npz"

    @property
    def results(self) -> Path:
        """Every ``EvaluationRow`` of the run (what the catalog holds)."""
        return self.path / "results.json"

    @property
    def flags(self) -> Path:
        """Ops and generators whose copies fell further below their parents than the recipe tolerates."""
        return self.path / "flags.json"

    @property
    def suggestion(self) -> Path:
        """The recipe change the flags suggest, a unified diff for a data engineer to review; never applied."""
        return self.path / "recipe_suggestion.diff"

    @property
    def comparison(self) -> Path:
        """This release's evaluation against the dataset's previous evaluated release."""
        return self.path / "comparison.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def sample_manifests(folder: Path) -> list[Path]:
    """Where a sample of a release folder, a run folder or one manifest file is looked up, most derived first."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    return list(dict.fromkeys([*RunDir(folder).manifests(), *ReleaseDir(folder).manifests()]))
