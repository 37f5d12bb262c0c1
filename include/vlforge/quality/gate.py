"""The quality gate: each task type's mean agreement between annotation rounds reaches the recipe's thresholds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import great_expectations as gx
import pandas as pd

from vlforge import expectations as ex
from vlforge.config import Recipe
from vlforge.gates import run_gate
from vlforge.run import RunDescription

METRIC_EXPECTATIONS = {
    "iou_agreement": ex.ExpectIouAgreementAtLeast,
    "ocr_accuracy": ex.ExpectOcrAccuracyAtLeast,
    "action_completeness": ex.ExpectActionCompletenessAtLeast,
    "bertscore_f1": ex.ExpectBertscoreF1AtLeast,
}


def quality_tables(agreement: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The agreement table split by task type: thresholds may differ per task type."""
    return {f"agreement_{task_type}": rows for task_type, rows in agreement.groupby("task_type", sort=True)}


def quality_suites(recipe: Recipe, tables: dict[str, pd.DataFrame]) -> dict[str, gx.ExpectationSuite]:
    """Each task type's mean agreement reaches the recipe's dataset thresholds.

    A metric that no item of a task type measured (e.g. IoU for captions) has no expectation.
    BERTScore F1 is checked per encoder, over the items it scored, against its own threshold.
    """
    suites = {}
    for name, rows in tables.items():
        task_type = str(rows["task_type"].iloc[0])
        thresholds = recipe.quality.thresholds("dataset", task_type)
        expectations = [
            expectation(
                column=metric,
                min_value=getattr(thresholds, metric),
                description=f"Mean {metric} of {task_type} items is at least {getattr(thresholds, metric)}.",
            )
            for metric, expectation in METRIC_EXPECTATIONS.items()
            if metric != "bertscore_f1" and getattr(thresholds, metric) is not None and rows[metric].notna().any()
        ]
        expectations += bertscore_expectations(recipe, task_type, rows)
        if expectations:
            suites[name] = gx.ExpectationSuite(name=f"quality.{task_type}", expectations=expectations)
    return suites


def bertscore_expectations(recipe: Recipe, task_type: str, rows: pd.DataFrame) -> list[gx.expectations.Expectation]:
    """Mean BERTScore F1 of the items each encoder scored reaches that encoder's dataset threshold."""
    expectations = []
    scored = rows[rows["bertscore_f1"].notna()] if "bertscore_encoder" in rows else rows.iloc[0:0]
    for encoder in sorted(scored["bertscore_encoder"].dropna().unique()):
        threshold = recipe.quality.bertscore_threshold("dataset", task_type, encoder)
        if threshold is not None:
            expectations.append(
                ex.ExpectBertscoreF1AtLeast(
                    column="bertscore_f1",
                    min_value=threshold,
                    row_condition=f"bertscore_encoder=={encoder!r}",
                    condition_parser="pandas",
                    description=f"Mean bertscore_f1 of {task_type} items scored by {encoder} is at least {threshold}.",
                )
            )
    return expectations


def run_quality_gate(run: RunDescription) -> dict[str, Any]:
    """The gate after the agreement stage, over the run folder's agreement table.

    Raises:
        GateFailed: naming each metric, its value and its threshold.
    """
    tables = quality_tables(pd.read_parquet(run.run_dir.agreement))
    suites = quality_suites(run.recipe, tables)
    return asdict(run_gate("quality", {name: tables[name] for name in suites}, suites, run.run_dir))
