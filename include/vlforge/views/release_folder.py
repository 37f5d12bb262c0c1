"""Reading one release folder for the dashboard, with damage turned into messages instead of errors.

A catalog row may point at a folder that is gone, a ``RELEASE.json`` may be
truncated, a manifest unreadable: each reader raises ``FolderDamage`` with a
sentence naming the file and the problem, and the page shows that sentence on
the one item it concerns. Releases never change once published, so what is read
from a folder is cached per folder and ``RELEASE.json`` modification time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.config import Recipe
from vlforge.layout import ReleaseDir, is_object_store
from vlforge.manifest import SCHEMA, read_batches, table_to_samples
from vlforge.quality.agreement import METRICS
from vlforge.records import Sample

KINDS = ("real", "augmented", "synthetic")


class FolderDamage(Exception):
    """A release folder, or one file in it, cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Expectation:
    """One expectation of a gate as it was validated: what was checked, what was seen, the bound."""

    table: str
    type: str
    column: str
    description: str
    observed: str
    threshold: str
    passed: bool
    problem: str = ""


@dataclass(frozen=True)
class GateView:
    name: str
    passed: bool
    evaluated: int
    failed: list[str]
    expectations: list[Expectation]
    message: str = ""  # why the expectations could not all be shown


@dataclass(frozen=True)
class SampleIndex:
    """The manifest's columns that the gallery and the diff filter on, one entry per sample, in file order."""

    table: pa.Table
    sample_ids: list[str]
    task_types: list[str]
    splits: list[str]
    sources: list[str]
    kinds: list[str]
    metrics: dict[str, list[float | None]]
    positions: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def samples(self, positions: list[int]) -> list[Sample]:
        """The full samples at ``positions`` (only these rows are turned into records)."""
        if not positions:
            return []
        return table_to_samples(self.table.take(pa.array(positions, type=pa.int64())).select(SCHEMA.names))


class ReleaseFolder:
    """One release's folder; ``path`` is ``None`` for a catalog row that names no folder."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.object_store_url = str(path) if path and is_object_store(str(path)) else None

    def folder(self) -> ReleaseDir:
        """The folder's file names (``vlforge.layout``), once it is known to exist."""
        if self.path is None:
            raise FolderDamage("the catalog row names no release folder")
        if self.object_store_url:
            raise FolderDamage(
                f"release {self.object_store_url} is on an object store; the dashboard reads release folders from a "
                "file system: mount the bucket where the API server can read it, or release to a local VLFORGE_HOME"
            )
        if not self.path.is_dir():
            raise FolderDamage(f"release folder {self.path} is missing")
        return ReleaseDir(self.path)

    def _stamp(self) -> int:
        path = self.folder().release_json
        try:
            return path.stat().st_mtime_ns
        except OSError as error:
            raise FolderDamage(f"{path} cannot be read: {error.strerror}") from error

    def release(self) -> dict[str, Any]:
        """``RELEASE.json``."""
        return _release_json(str(self.folder().release_json), self._stamp())

    def recipe(self) -> Recipe:
        """The recipe the release was made with (its thresholds and tolerances)."""
        try:
            return Recipe.model_validate(self.release()["recipe"])
        except (KeyError, ValueError) as error:
            raise FolderDamage(f"{self.folder().release_json} holds no valid recipe: {error}") from error

    def index(self) -> SampleIndex:
        """The manifest's sample index."""
        return _sample_index(str(self.folder().manifest), self._stamp())

    def first_rows(self, rows: int) -> SampleIndex:
        """The sample index of the manifest's first ``rows`` samples only: the unfiltered gallery's first page needs no more."""
        path = str(self.folder().manifest)
        try:
            with pq.ParquetFile(path) as parquet:
                batch = next(parquet.iter_batches(batch_size=rows), None)
                table = parquet.schema_arrow.empty_table() if batch is None else pa.Table.from_batches([batch])
        except (OSError, pa.ArrowException) as error:
            raise FolderDamage(f"{path} cannot be read: {error}") from error
        return _index_of(table, path)

    def manifest_batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The manifest's ``columns``, ``BATCH_ROWS`` samples at a time: what a page that needs every sample reads."""
        path = str(self.folder().manifest)
        try:
            yield from read_batches(path, columns)
        except (OSError, pa.ArrowException) as error:
            raise FolderDamage(f"{path} cannot be read: {error}") from error

    def fingerprints(self) -> list[dict[str, str]]:
        """Per sample (in index order), comparable texts of its image, boxes and text: what the diff calls changed."""
        return _fingerprints(str(self.folder().manifest), self._stamp())

    def image_path(self, file_name: str) -> Path:
        """An image of the release (hard-linked into ``images/``)."""
        return self.folder().images / file_name

    def gates(self) -> list[GateView]:
        """Every gate's expectations with observed value and threshold, from the validation results."""
        views = []
        for gate in self.release().get("gates") or []:
            name = str(gate.get("name", "?"))
            results, message = self._gate_results(name, gate.get("result_path"))
            expectations = [expectation for table, result in results.items() for expectation in _expectations(table, result)]
            if not results:
                expectations = [_from_failure(failure) for failure in gate.get("failures") or []]
            views.append(
                GateView(
                    name,
                    bool(gate.get("passed")),
                    int(gate.get("evaluated") or 0),
                    list(gate.get("failed") or []),
                    expectations,
                    message,
                )
            )
        return views

    def _gate_results(self, name: str, result_path: str | None) -> tuple[dict[str, Any], str]:
        candidates = [self.folder().gate_results(name)]
        if result_path:
            candidates.append(Path(result_path))
        for candidate in candidates:
            if candidate.is_file():
                try:
                    return json.loads(candidate.read_text(encoding="utf-8")), ""
                except (OSError, ValueError) as error:
                    return {}, f"{candidate} cannot be read ({error}); only the failed expectations are listed"
        where = candidates[0].relative_to(self.folder().path)
        return {}, f"the validation results ({where}) are not in this release; only the failed expectations are listed"

    def quarantine(self) -> list[dict[str, Any]]:
        return _json_lines(self.folder().quarantine)

    def curate_drops(self) -> list[dict[str, Any]]:
        return _json_lines(self.folder().curate_drops)

    def review_tasks(self) -> list[dict[str, Any]]:
        path = self.folder().review_tasks
        if not path.is_file():
            return []
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise FolderDamage(f"{path} cannot be read: {error}") from error
        if not isinstance(tasks, list):
            raise FolderDamage(f"{path} holds {type(tasks).__name__}, not a list of Label Studio tasks")
        return tasks

    def safe_file(self, relative: str) -> Path:
        """A file inside the folder by relative path; refuses anything that resolves outside it."""
        root = self.folder().path.resolve()
        path = (root / relative).resolve()
        if root not in path.parents or not path.is_file():
            raise FolderDamage(f"no file {relative!r} in release folder {self.path}")
        return path


@lru_cache(maxsize=256)
def _release_json(path: str, _stamp: int) -> dict[str, Any]:
    try:
        release = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FolderDamage(f"{path} cannot be read: {error}") from error
    if not isinstance(release, dict):
        raise FolderDamage(f"{path} holds {type(release).__name__}, not a release object")
    return release


@lru_cache(maxsize=16)
def _sample_index(path: str, _stamp: int) -> SampleIndex:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise FolderDamage(f"{path} cannot be read: {error}") from error
    return _index_of(table, path)


def _index_of(table: pa.Table, path: str) -> SampleIndex:
    missing = [name for name in (*SCHEMA.names, "split") if name not in table.column_names]
    if missing:
        raise FolderDamage(f"{path} lacks the columns {missing}")
    lineage = table.column("lineage").to_pylist()
    synthetic = table.column("synthetic").to_pylist()
    metrics = table.column("metrics").to_pylist()
    sources = table.column("source").to_pylist()
    sample_ids = [str(value) for value in table.column("sample_id").to_pylist()]
    return SampleIndex(
        table=table,
        sample_ids=sample_ids,
        task_types=[str(value) for value in table.column("task_type").to_pylist()],
        splits=[str(value) for value in table.column("split").to_pylist()],
        sources=[source_file(source) for source in sources],
        kinds=[
            sample_kind(bool(is_synthetic), [entry["op"] for entry in ops or []])
            for is_synthetic, ops in zip(synthetic, lineage, strict=True)
        ],
        metrics={name: [_number((row or {}).get(name)) for row in metrics] for name in METRICS},
        positions={sample_id: position for position, sample_id in enumerate(sample_ids)},
    )


def source_file(source: dict[str, Any] | None) -> str:
    """The source file a manifest row names (its ``source`` column's value), as the gallery filters on it."""
    return str((source or {}).get("file", ""))


def sample_kind(synthetic: bool, ops: list[str]) -> str:
    """``synthetic`` (generated), ``augmented`` (a copy made from a parent), else ``real``."""
    if synthetic:
        return "synthetic"
    return "augmented" if "parent" in ops else "real"


@lru_cache(maxsize=8)
def _fingerprints(path: str, stamp: int) -> list[dict[str, str]]:
    table = _sample_index(path, stamp).table
    columns = {
        name: table.column(name).to_pylist()
        for name in ("images", "videos", "boxes", "ocr_lines", "actions", "conversations", "video_events", "choices")
    }
    prints = []
    for row in range(table.num_rows):
        prints.append(
            {
                "image": json.dumps(
                    [item["sha256"] for item in columns["images"][row] or []]
                    + [item["sha256"] for item in columns["videos"][row] or []]
                ),
                "boxes": json.dumps(
                    [
                        columns["boxes"][row],
                        [line.get("box") for line in columns["ocr_lines"][row] or []],
                        [action.get("box") for action in columns["actions"][row] or []],
                    ],
                    sort_keys=True,
                ),
                "text": json.dumps(
                    [
                        columns["conversations"][row],
                        [line.get("text") for line in columns["ocr_lines"][row] or []],
                        columns["video_events"][row],
                        columns["choices"][row],
                    ],
                    sort_keys=True,
                    ensure_ascii=False,
                ),
            }
        )
    return prints


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """A JSON-lines file; a line that is not JSON becomes an entry saying so (the rest still shows)."""
    if not path.is_file():
        raise FolderDamage(f"{path} is missing")
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise FolderDamage(f"{path} cannot be read: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as error:
            entry = {"reason": "unreadable line", "message": f"{path.name} line {number}: {error}"}
        entries.append(
            entry if isinstance(entry, dict) else {"reason": "unreadable line", "message": f"{path.name} line {number}"}
        )
    return entries


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _expectations(table: str, result: dict[str, Any]) -> Iterator[Expectation]:
    for item in result.get("results") or []:
        config = item.get("expectation_config") or {}
        kwargs = config.get("kwargs") or {}
        details = item.get("result") or {}
        exception = item.get("exception_info") or {}
        yield Expectation(
            table=table,
            type=str(config.get("type", "?")),
            column=str(
                kwargs.get("column")
                or ", ".join(str(kwargs[key]) for key in ("column_A", "column_B", "column_list") if key in kwargs)
            ),
            description=str(config.get("description") or ""),
            observed=_observed(details),
            threshold=_threshold(kwargs),
            passed=bool(item.get("success")),
            problem=str(exception.get("exception_message") or "") if exception.get("raised_exception") else "",
        )


def _from_failure(failure: dict[str, Any]) -> Expectation:
    """A failed expectation from the gate summary alone (``failures`` in ``RELEASE.json``)."""
    return Expectation(
        table=str(failure.get("table", "")),
        type=str(failure.get("expectation", "?")),
        column=str(failure.get("column", "")),
        description=str(failure.get("description", "")),
        observed=str(failure.get("problem", "")),
        threshold="",
        passed=False,
    )


def _observed(details: dict[str, Any]) -> str:
    if "observed_value" in details:
        return format_value(details["observed_value"])
    if details.get("unexpected_count") is not None:
        count, total = details["unexpected_count"], details.get("element_count")
        return f"{count} unexpected of {total}" if total is not None else f"{count} unexpected"
    return "-"


_BOUNDS = (("min_value", "≥"), ("max_value", "≤"), ("value", "="), ("value_set", "in"), ("type_", "type"), ("regex", "matches"))


def _threshold(kwargs: dict[str, Any]) -> str:
    parts = [f"{symbol} {format_value(kwargs[key])}" for key, symbol in _BOUNDS if kwargs.get(key) is not None]
    if kwargs.get("mostly") is not None:
        parts.append(f"for {format_value(kwargs['mostly'])} of rows")
    return ", ".join(parts) or "-"


def format_value(value: Any) -> str:
    """Numbers to four decimals, the rest as JSON."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def reason_group(reason: str) -> str:
    """A quarantine reason without its particulars in parentheses, to count by: ``image file not found``."""
    return re.sub(r"\s*\(.*\)\s*$", "", reason).strip() or reason
