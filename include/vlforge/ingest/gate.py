"""The ingest gate: the staged rounds are well formed and few enough rows were quarantined."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

import great_expectations as gx
import pandas as pd

from vlforge import expectations as ex
from vlforge import tables
from vlforge.config import Recipe
from vlforge.gates import run_gate, suite_columns
from vlforge.manifest import batches, iter_manifest
from vlforge.records import TASK_TYPES, Sample
from vlforge.run import RunDescription
from vlforge.store import ImageStore


def ingest_tables(
    samples: Iterable[Sample], stats: dict[str, Any], store: ImageStore, columns: Mapping[str, list[str]] | None = None
) -> dict[str, pd.DataFrame]:
    """The ingest gate's tables over the ingested rounds and the ingest counts.

    ``samples`` is read once, ``manifest.BATCH_ROWS`` at a time: what stays in memory is the tables' rows, not the samples.

    Args:
        samples: the ingested rounds.
        stats: the ingest counts (``IngestResult.stats``).
        store: the image store the rounds refer to.
        columns: for a table named here, the columns to keep (those its suite reads, ``gates.suite_columns``): each
            batch's rows are cut to them as they are built, so a table of N rows holds N rows of a few values.

    Returns:
        The tables by name.
    """
    builders: dict[str, Callable[[list[Sample]], pd.DataFrame]] = {
        "samples": tables.samples_table,
        "images": lambda batch: tables.images_table(batch, store),
        "boxes": tables.boxes_table,
        "ocr_lines": tables.ocr_lines_table,
    }
    kept = columns or {}

    def cut(name: str, frame: pd.DataFrame) -> pd.DataFrame:
        # A column the suite reads but the table lacks is left out here, to fail in the gate, named.
        return frame[[column for column in kept[name] if column in frame]] if name in kept else frame

    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in builders}
    for batch in batches(samples):
        for name, build in builders.items():
            parts[name].append(cut(name, build(batch)))
    built = {name: _concat(parts[name]) if parts[name] else cut(name, build([])) for name, build in builders.items()}
    # GX's uniqueness check copies an Arrow-backed string column into Python strings: holding them so once costs less
    # (20 MB less at 100,000 samples), and the values, so the results, are the same.
    built["samples"] = built["samples"].astype({"sample_id": object})
    return {**built, "ingest_stats": cut("ingest_stats", tables.ingest_stats_table(stats))}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The batches' frames as one, as if built at once: empty batches left out, so they cannot change a column's type."""
    filled = [frame for frame in frames if len(frame)] or frames[:1]
    return filled[0] if len(filled) == 1 else pd.concat(filled, ignore_index=True)


def ingest_suites(recipe: Recipe) -> dict[str, gx.ExpectationSuite]:
    """One suite per table of ``ingest_tables``."""
    return {
        "samples": gx.ExpectationSuite(
            name="ingest.samples",
            expectations=[
                ex.ExpectUniqueSampleIds(column="sample_id", description="Sample ids are unique."),
                ex.ExpectKnownTaskTypes(
                    column="task_type", value_set=list(TASK_TYPES), description=f"Task types are among {list(TASK_TYPES)}."
                ),
            ],
        ),
        "images": gx.ExpectationSuite(
            name="ingest.images",
            expectations=[
                ex.ExpectImageInStore(
                    column="stored_bytes", min_value=1, description="Every image sha256 is a file in the image store."
                ),
            ],
        ),
        "boxes": gx.ExpectationSuite(name="ingest.boxes", expectations=ex.box_expectations()),
        "ocr_lines": gx.ExpectationSuite(
            name="ingest.ocr_lines",
            expectations=[ex.ExpectNonEmptyOcrText(column="text", min_value=1, description="OCR lines are not empty.")],
        ),
        "ingest_stats": gx.ExpectationSuite(
            name="ingest.stats",
            expectations=[
                ex.ExpectQuarantineShareAtMost(
                    column="quarantine_share",
                    min_value=0,
                    max_value=recipe.ingest.max_quarantine_share,
                    description=f"At most {recipe.ingest.max_quarantine_share:.0%} of rows are quarantined.",
                )
            ],
        ),
    }


def run_ingest_gate(run: RunDescription) -> dict[str, Any]:
    """The gate after ingest, over the run folder's ingested rounds and ingest counts.

    Raises:
        GateFailed: listing the failed expectations and where the full result is.
    """
    run_dir = run.run_dir
    stats = json.loads(run_dir.ingest_stats.read_text(encoding="utf-8"))
    suites = ingest_suites(run.recipe)
    columns = {name: suite_columns(suite) for name, suite in suites.items()}
    checked = ingest_tables(iter_manifest(run_dir.ingested), stats, run.store, columns)
    return asdict(run_gate("ingest", checked, suites, run_dir))
