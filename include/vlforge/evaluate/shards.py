"""Shard planning for evaluation: which samples each mapped task scores, and where its results go.

Every evaluator, data-side (alignment, OCR readability) and model-side, runs the same way: a plan
splits the selected sample ids into shards, one mapped task per shard scores its samples and writes
per-sample results into the evaluation folder (``layout.EvaluationDir``, outside the release), and a
merge task reads every shard's results back and aggregates them.

- Stable: ids are sorted before they are split, so a release's plan is the same on every run and
  every machine, and a retried shard scores the same samples.
- Balanced: ``n = ceil(ids / shard_size)`` shards of sizes that differ by at most one.
- Complete: the merge refuses when a planned shard has no results, naming it.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlforge.layout import EvaluationDir, ReleaseDir
from vlforge.manifest import read_samples_by_id, read_split_ids
from vlforge.records import Sample
from vlforge.store import atomic_write_bytes, atomic_write_text


@dataclass(frozen=True)
class EvaluationShard:
    """One mapped task's share of one evaluator's samples."""

    evaluator: str
    index: int
    name: str
    sample_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"evaluator": self.evaluator, "index": self.index, "name": self.name, "sample_ids": list(self.sample_ids)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EvaluationShard:
        return cls(str(value["evaluator"]), int(value["index"]), str(value["name"]), tuple(value["sample_ids"]))


def plan_shards(evaluator: str, sample_ids: Sequence[str], shard_size: int) -> list[EvaluationShard]:
    """Split ``sample_ids`` into stable, balanced shards.

    Args:
        evaluator: the evaluator's name (a folder name: ``alignment``, ``ocr_readability``, ``model.<backend>``).
        sample_ids: the samples to score (any order; duplicates are scored once).
        shard_size: the most samples per shard.

    Returns:
        ``ceil(n / shard_size)`` shards named ``shard-0000``..., sizes differing by at most one; none for no ids.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    ids = sorted(set(sample_ids))
    count = math.ceil(len(ids) / shard_size)
    return [
        EvaluationShard(evaluator, index, f"shard-{index:04d}", tuple(str(value) for value in part))
        for index, part in enumerate(np.array_split(np.array(ids, dtype=object), count) if count else [])
    ]


def split_sample_ids(release: ReleaseDir, splits: Sequence[str] | None = None) -> list[str]:
    """The ids of a release's samples (of the given splits; all when ``None``), without reading the samples."""
    ids, found = read_split_ids(release.manifest)
    return [sample_id for sample_id, split in zip(ids, found, strict=True) if splits is None or split in splits]


def shard_samples(release: ReleaseDir, shard: EvaluationShard) -> list[Sample]:
    """The samples of one shard, read from the release's manifest, sorted by id.

    Raises:
        KeyError: naming the shard and the ids the manifest lacks.
    """
    samples = read_samples_by_id(release.manifest, list(shard.sample_ids))
    missing = sorted(set(shard.sample_ids) - {sample.sample_id for sample in samples})
    if missing:
        raise KeyError(f"{release.manifest}: {shard.evaluator} {shard.name} names samples it lacks: {missing[:5]}")
    return samples


def write_plan(folder: EvaluationDir, shards: dict[str, list[EvaluationShard]]) -> dict[str, list[dict[str, Any]]]:
    """Write every evaluator's shards to ``plan.json``; returns them as JSON-able dicts (what mapped tasks take)."""
    plan = {evaluator: [shard.to_json() for shard in items] for evaluator, items in shards.items()}
    atomic_write_text(folder.plan, json.dumps(plan, indent=2, sort_keys=True))
    return plan


def read_plan(folder: EvaluationDir) -> dict[str, list[EvaluationShard]]:
    plan = json.loads(folder.plan.read_text(encoding="utf-8"))
    return {evaluator: [EvaluationShard.from_json(item) for item in items] for evaluator, items in plan.items()}


def write_shard_results(folder: EvaluationDir, shard: EvaluationShard, rows: list[dict[str, Any]]) -> Path:
    """Write one shard's per-sample results (JSON-able dicts, one per sample) atomically; returns the file."""
    path = folder.shard_results(shard.evaluator, shard.name)
    atomic_write_text(path, json.dumps(rows, indent=1, sort_keys=True, ensure_ascii=False))
    return path


def write_shard_arrays(folder: EvaluationDir, shard: EvaluationShard, arrays: dict[str, np.ndarray]) -> Path:
    """Write one shard's per-sample arrays (e.g. embeddings, row ``i`` for result ``i``) atomically as ``.npz``."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = folder.shard_arrays(shard.evaluator, shard.name)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_results(folder: EvaluationDir, evaluator: str) -> list[dict[str, Any]]:
    """Every planned shard's per-sample results of ``evaluator``, in plan order.

    Raises:
        FileNotFoundError: naming the planned shards that wrote no results.
    """
    shards = read_plan(folder).get(evaluator, [])
    missing = [shard.name for shard in shards if not folder.shard_results(evaluator, shard.name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder.path}: {evaluator} shards {missing} wrote no results")
    rows: list[dict[str, Any]] = []
    for shard in shards:
        rows += json.loads(folder.shard_results(evaluator, shard.name).read_text(encoding="utf-8"))
    return rows


def read_arrays(folder: EvaluationDir, evaluator: str, name: str) -> np.ndarray:
    """Array ``name`` of every planned shard of ``evaluator`` stacked in plan order.

    Raises:
        ValueError: no shard of ``evaluator`` was planned in ``folder``.
    """
    parts = []
    for shard in read_plan(folder).get(evaluator, []):
        with np.load(folder.shard_arrays(evaluator, shard.name)) as arrays:
            parts.append(arrays[name])
    if not parts:
        raise ValueError(f"no {evaluator} shard was planned in {folder.path}: there is no array {name!r} to read")
    return np.concatenate(parts)
