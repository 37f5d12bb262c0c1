"""Gates: run expectation suites over a run's tables with GX Core, keep the results, build Data Docs.

A gate collects every failed expectation and raises once, naming each one with
its column, what was observed and where the full result is. Gate code never
swallows an error: an expectation that cannot run (a missing column) fails.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vlforge.config import Recipe
from vlforge.ingest import IngestResult
from vlforge.layout import AGREEMENT, INGESTED
from vlforge.manifest import read_manifest
from vlforge.quality import frames
from vlforge.store import ImageStore, atomic_write_text

log = logging.getLogger(__name__)
DATA_DOCS = Path("gx") / "uncommitted" / "data_docs" / "local_site"


@dataclass
class GateResult:
    name: str
    passed: bool
    evaluated: int
    failed: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    result_path: str = ""


class GateFailed(RuntimeError):
    """Raised when a gate's expectations fail; the message lists each failure."""

    def __init__(self, result: GateResult) -> None:
        lines = [f"gate '{result.name}' failed {len(result.failures)} of {result.evaluated} expectations:"]
        for failure in result.failures:
            lines.append(f"  - {failure['expectation']} on {failure['column']}: {failure['problem']}")
        lines.append(f"full result: {result.result_path}")
        super().__init__("\n".join(lines))
        self.result = result


def run_gate(name: str, tables: dict[str, pd.DataFrame], suites: dict[str, Any], stage: Path) -> GateResult:
    """Validate each table against its suite, store results and Data Docs under ``stage``.

    Writes ``stage/gates/<name>.json`` (the summary a release records) and
    ``stage/gx_results/<name>.json`` (every expectation's full result).

    Raises:
        GateFailed: when any expectation fails.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(stage))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    datasource = _datasource(context, name)
    results = {}
    for table_name, suite in suites.items():
        asset_names = datasource.get_asset_names()
        asset = datasource.get_asset(table_name) if table_name in asset_names else datasource.add_dataframe_asset(table_name)
        batch = next((b for b in asset.batch_definitions if b.name == "whole"), None) or asset.add_batch_definition_whole_dataframe("whole")
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{name}.{table_name}", data=batch, suite=context.suites.add_or_update(suite))
        )
        results[table_name] = definition.run(batch_parameters={"dataframe": tables[table_name]}, result_format="SUMMARY")
    context.build_data_docs()
    full_path = stage / "gx_results" / f"{name}.json"
    atomic_write_text(full_path, json.dumps({table: result.to_json_dict() for table, result in results.items()}, indent=2, default=str))
    failures = [_describe_failure(table, item) for table, result in results.items() for item in result.results if not item.success]
    result = GateResult(
        name=name,
        passed=not failures,
        evaluated=sum(len(result.results) for result in results.values()),
        failed=sorted({failure["expectation"] for failure in failures}),
        failures=failures,
        result_path=str(full_path),
    )
    atomic_write_text(stage / "gates" / f"{name}.json", json.dumps(asdict(result), indent=2, default=str))
    log.info("gate %s: %s, %d expectations, failed: %s", name, "passed" if result.passed else "FAILED", result.evaluated, result.failed)
    if not result.passed:
        raise GateFailed(result)
    return result


def _datasource(context: Any, name: str) -> Any:
    try:
        return context.data_sources.get(name)
    except KeyError:
        return context.data_sources.add_pandas(name)


def _describe_failure(table: str, item: Any) -> dict[str, Any]:
    config = item.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ", ".join(str(kwargs[key]) for key in ("column_A", "column_B") if key in kwargs)
    details = item.result or {}
    exception = _exception_message(item)
    if exception:
        problem = f"could not run: {exception}"
    elif details.get("unexpected_count") is not None:
        problem = f"{details['unexpected_count']} unexpected rows, e.g. {details.get('partial_unexpected_list', [])[:5]}"
    elif kwargs.get("min_value") is not None:
        problem = f"observed {details.get('observed_value')!r}, threshold {kwargs['min_value']}"
    else:
        problem = f"observed {details.get('observed_value')!r}"
    return {
        "table": table,
        "expectation": config.type,
        "column": f"{table}.{column}",
        "description": config.description or "",
        "problem": problem,
    }


def _exception_message(item: Any) -> str | None:
    info = item.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    messages = [entry.get("exception_message") for entry in infos if isinstance(entry, dict) and entry.get("raised_exception")]
    return "; ".join(message or "unknown error" for message in messages) or None


def ingest_tables(result: IngestResult, store: ImageStore) -> dict[str, pd.DataFrame]:
    samples = result.samples
    return {
        "samples": frames.samples_frame(samples),
        "images": frames.images_frame(samples, store),
        "boxes": frames.boxes_frame(samples),
        "ocr_lines": frames.ocr_frame(samples),
        "ingest_stats": frames.ingest_stats_frame(result.stats()),
    }


def run_ingest_gate(stage: Path, store_dir: Path, recipe: Recipe) -> dict[str, Any]:
    """The gate after ingest, over the staged manifest and ingest counts.

    Raises:
        GateFailed: listing the failed expectations and where the full result is.
    """
    from vlforge.quality.suites import ingest_suites

    stats = json.loads((stage / "ingest_stats.json").read_text(encoding="utf-8"))
    result = IngestResult(samples=read_manifest(stage / INGESTED))
    tables = ingest_tables(result, ImageStore(store_dir))
    tables["ingest_stats"] = frames.ingest_stats_frame(stats)
    return asdict(run_gate("ingest", tables, ingest_suites(recipe), stage))


def run_quality_gate(stage: Path, recipe: Recipe) -> dict[str, Any]:
    """The gate after the agreement stage: every task type's mean agreement reaches the recipe's thresholds.

    Raises:
        GateFailed: naming each metric, its value and its threshold.
    """
    from vlforge.quality.suites import quality_suites, quality_tables

    tables = quality_tables(pd.read_parquet(stage / AGREEMENT))
    suites = quality_suites(recipe, tables)
    return asdict(run_gate("quality", {name: tables[name] for name in suites}, suites, stage))


def run_augment_gate(stage: Path, recipe: Recipe) -> dict[str, Any]:
    """The gate after augmentation, over ``augmented.parquet`` and its parents in ``curated.parquet``.

    Checks every copy's boxes (inside the image, positive area), that no copy lost its answers,
    that left/right words agree with the copy's flips, each op's applied share (from 1000 eligible
    copies on) and every kept paraphrase's BERTScore (``vlforge.quality.suites.augment_suites``).

    Raises:
        GateFailed: naming each failed expectation.
    """
    from vlforge.augment.stage import AUGMENT_STATS, AUGMENTED, read_augmented
    from vlforge.quality.suites import augment_suites, augment_tables
    from vlforge.release import CURATED, read_curated

    stats = json.loads((stage / AUGMENT_STATS).read_text(encoding="utf-8"))
    copies = read_augmented(stage / AUGMENTED)
    parents = {sample.sample_id: sample for sample in read_curated(stage / CURATED)[0]}
    specs = recipe.augment.phase_specs(stats["phase"]) if stats["phase"] else []
    tables = augment_tables(copies, parents, specs)
    suites = augment_suites(recipe, tables, specs)
    return asdict(run_gate("augment", {name: tables[name] for name in suites}, suites, stage))
