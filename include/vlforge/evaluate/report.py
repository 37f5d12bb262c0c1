"""The evaluation report: the release's data metrics beside its evaluation results, the flags and the suggestion.

A static HTML page in the evaluation folder (the release folder, and so its own report, never changes).
"""

from __future__ import annotations

import html
from typing import Any

from vlforge.compare import Comparison, release_metrics
from vlforge.evaluate.flags import Flag


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def evaluation_report(release: dict[str, Any], rows: list[dict[str, Any]], flags: list[Flag], suggestion: str,
                      comparison: Comparison) -> str:
    """The report page.

    Args:
        release: ``RELEASE.json`` content.
        rows: the evaluation's ``EvaluationRow.to_json()`` dicts.
        flags: the ops whose copies lost too much.
        suggestion: the recipe suggestion (reasons and diff), ``""`` when none.
        comparison: against the previous evaluated release.
    """
    title = f"Evaluation of {release['dataset']} {release['version']}"
    data = [[name, value] for name, value in sorted(release_metrics(release).items())]
    results = [[row["evaluator"], row["model"], row["subset"], row["metric"], row["value"], row["count"],
                ", ".join(str(example.get("sample_id", "")) for example in row.get("examples") or [])] for row in rows]
    flagged = [[flag.op or f"generator {flag.generator}", flag.section or f"generator {flag.generator}", flag.metric, flag.parents, flag.copies, flag.drop,
                flag.tolerance, flag.pairs, ", ".join(example["sample_id"] for example in flag.examples)] for flag in flags]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        (
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}pre{background:#f6f6f6;padding:1em}</style></head><body>"
        ),
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Data metrics (the release's gates)</h2>", _table(["metric", "value"], data),
        "<h2>Evaluation results</h2>", _table(["evaluator", "model", "subset", "metric", "value", "samples", "examples"], results),
        f"<h2>Flagged ops ({len(flags)})</h2>",
        _table(["op", "where", "metric", "parents", "copies", "drop", "tolerance", "pairs", "examples"], flagged) if flags else "<p>None.</p>",
        "<h2>Recipe suggestion</h2>",
        f"<pre>{html.escape(suggestion)}</pre>" if suggestion else "<p>No change suggested.</p>",
        "<h2>Against the previous evaluated release</h2>", f"<pre>{html.escape(comparison.summary())}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)
