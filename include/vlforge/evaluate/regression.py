"""The same evaluator and model across releases of a dataset: what fell by more than the recipe tolerates.

Evaluation rows become flat metrics named ``<evaluator>/<model>/<subset>.<metric>`` and go through
``vlforge.compare.compare_releases``, the comparison releases already use, so tolerances are looked up the
same way: full name, then the metric (``recall@5``), then ``"*"``. Every evaluation metric is higher-better.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vlforge.compare import Comparison, compare_releases


def evaluation_metrics(rows: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    """Rows (``EvaluationRow.to_json()`` or catalog rows) as ``{evaluator/model/subset.metric: value}``."""
    return {f"{row['evaluator']}/{row['model']}/{row['subset']}.{row['metric']}": row["value"] for row in rows}


def compare_evaluations(
    dataset: str,
    previous: tuple[str, list[dict[str, Any]]] | None,
    current: tuple[str, list[dict[str, Any]]],
    tolerance: dict[str, float],
) -> Comparison:
    """Compare a release's evaluation with the previous evaluated release's.

    Args:
        dataset: the dataset.
        previous: ``(version, rows)`` of the previous evaluated release, or ``None`` for the first.
        current: ``(version, rows)`` of this release.
        tolerance: ``evaluate.release_tolerance``.

    Returns:
        The comparison; ``regressions`` are the metrics that fell beyond their tolerance. Only metrics
        both evaluations measured can regress.
    """
    old = {"dataset": dataset, "version": previous[0], "metrics": evaluation_metrics(previous[1])} if previous else None
    new = {"dataset": dataset, "version": current[0], "metrics": evaluation_metrics(current[1])}
    return compare_releases(old, new, tolerance)
