"""The gate engine: validate tables against GX suites in a run folder, keep every result, raise once.

A gate collects every failed expectation and raises once, naming each one with its column, what was
observed and where the full result is. Gate code never swallows an error: an expectation that
cannot run (a missing column) fails. Each stage declares its own tables and suites beside it
(``ingest/gate.py``, ``quality/gate.py``, ``augment/gate.py``, ...) and calls ``run_gate``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from vlforge.layout import RunDir
from vlforge.store import atomic_write_text

log = logging.getLogger(__name__)


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


def run_gate(name: str, tables: dict[str, pd.DataFrame], suites: dict[str, Any], run_dir: RunDir) -> GateResult:
    """Validate each table against its suite; store results and Data Docs in the run folder.

    Writes ``run_dir.gate_summary(name)`` (the summary a release records) and
    ``run_dir.gate_results(name)`` (every expectation's full result); Data Docs go to ``run_dir.data_docs``.

    Args:
        name: the gate's name (``ingest``, ``quality``, ...).
        tables: the frames to validate, by table name.
        suites: the suite for each table name to validate (a table without a suite is not validated).
        run_dir: the run folder; GX keeps its file context there.

    Returns:
        The gate's summary.

    Raises:
        GateFailed: when any expectation fails.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    with _gx_project_lock(run_dir):
        context = gx.get_context(mode="file", project_root_dir=str(run_dir.path))
        _configure_project(context)
        datasource = _datasource(context, name)
        earlier_results = set(context.validation_results_store.list_keys())
        results = {}
        for table_name, suite in suites.items():
            asset_names = datasource.get_asset_names()
            asset = datasource.get_asset(table_name) if table_name in asset_names else datasource.add_dataframe_asset(table_name)
            batch = next(
                (b for b in asset.batch_definitions if b.name == "whole"), None
            ) or asset.add_batch_definition_whole_dataframe("whole")
            definition = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=f"{name}.{table_name}", data=batch, suite=context.suites.add_or_update(suite))
            )
            results[table_name] = definition.run(batch_parameters={"dataframe": tables[table_name]}, result_format="SUMMARY")
        # This gate's pages and the index only: the earlier gates' pages are built already, and rebuilding
        # every page at every gate grew with the number of gates before it.
        context.build_data_docs(
            resource_identifiers=[key for key in context.validation_results_store.list_keys() if key not in earlier_results]
            + [ExpectationSuiteIdentifier(name=suite.name) for suite in suites.values()]
        )
    full_path = run_dir.gate_results(name)
    atomic_write_text(
        full_path, json.dumps({table: result.to_json_dict() for table, result in results.items()}, indent=2, default=str)
    )
    failures = [
        _describe_failure(table, item) for table, result in results.items() for item in result.results if not item.success
    ]
    result = GateResult(
        name=name,
        passed=not failures,
        evaluated=sum(len(result.results) for result in results.values()),
        failed=sorted({failure["expectation"] for failure in failures}),
        failures=failures,
        result_path=str(full_path),
    )
    atomic_write_text(run_dir.gate_summary(name), json.dumps(asdict(result), indent=2, default=str))
    log.info(
        "gate %s: %s, %d expectations, failed: %s", name, "passed" if result.passed else "FAILED", result.evaluated, result.failed
    )
    if not result.passed:
        raise GateFailed(result)
    return result


def suite_columns(suite: Any) -> list[str]:
    """The columns a GX suite's expectations read (``column``, ``column_A``, ``column_B``, ``column_list``), each once."""
    columns: list[str] = []
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        for name in [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *kwargs.get("column_list", [])]:
            if name is not None and name not in columns:
                columns.append(name)
    return columns


@contextmanager
def _gx_project_lock(run_dir: RunDir) -> Iterator[None]:
    """Hold the run folder's GX project for one gate at a time.

    Gates of parallel branches (``gate_synth`` beside ``gate_quality``) run at once on every core, and
    each rewrites the project file (``great_expectations.yml``) as it adds its data source: a gate that
    read it half-written failed with "Error while processing DataContextConfig". An exclusive
    ``flock`` on the run folder serialises them; it is released when the process ends, however it ends.
    """
    run_dir.path.mkdir(parents=True, exist_ok=True)
    folder = os.open(run_dir.path, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


def gate_summaries(run_dir: RunDir) -> list[dict[str, Any]]:
    """Every gate summary written in the run folder, by gate name."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(run_dir.gates.glob("*.json"))]


def _configure_project(context: Any) -> None:
    """No progress bars, no config variables file, and Data Docs rendered with ``vlforge.data_docs``'s cached views.

    A run folder's project substitutes no ``${VARIABLE}`` from a file (its settings are vlforge's own), and
    GX read and parsed ``uncommitted/config_variables.yml`` again at each of the ~90 reads of a project
    setting in a gate: 0.3-0.4 s per gate. Environment variables are still substituted. The project file is
    written only when this changes it, which is at the run's first gate: rewriting it unchanged cost each
    later gate 0.2 s.
    """
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from vlforge.data_docs import cached_views_site

    variables = context.variables
    progress_bars = ProgressBarsConfig(globally=False)
    sites = {name: cached_views_site(site) for name, site in (variables.data_docs_sites or {}).items()}
    current_bars = variables.progress_bars  # a dict once the project file is read back
    if (
        dict(current_bars or {}) != progress_bars.to_dict()
        or sites != variables.data_docs_sites
        or variables.config_variables_file_path is not None
    ):
        variables.progress_bars = progress_bars
        variables.data_docs_sites = sites
        variables.config_variables_file_path = None
        variables.save()


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
