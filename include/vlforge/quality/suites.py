"""Expectation suites, declared in Python, one per table that a gate validates."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from vlforge.config import Recipe
from vlforge.quality import expectations as ex
from vlforge.records import TASK_TYPES


def ingest_suites(recipe: Recipe) -> dict[str, gx.ExpectationSuite]:
    """The ingest gate: one suite per table of ``vlforge.quality.frames``."""
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
        "boxes": gx.ExpectationSuite(
            name="ingest.boxes",
            expectations=[
                ex.ExpectBoxLeftTopInsideImage(column="x1", min_value=0, description="Boxes start inside the image (x1 >= 0)."),
                ex.ExpectBoxLeftTopInsideImage(column="y1", min_value=0, description="Boxes start inside the image (y1 >= 0)."),
                ex.ExpectBoxRightEdgeInsideImage(
                    column_A="image_width", column_B="x2", or_equal=True, description="Boxes end inside the image (x2 <= width)."
                ),
                ex.ExpectBoxBottomEdgeInsideImage(
                    column_A="image_height", column_B="y2", or_equal=True, description="Boxes end inside the image (y2 <= height)."
                ),
                ex.ExpectPositiveBoxWidth(column_A="x2", column_B="x1", or_equal=False, description="Boxes have x2 > x1."),
                ex.ExpectPositiveBoxHeight(column_A="y2", column_B="y1", or_equal=False, description="Boxes have y2 > y1."),
            ],
        ),
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
    """The quality gate: each task type's mean agreement reaches the recipe's dataset thresholds.

    A metric that no item of a task type measured (e.g. IoU for captions) has no expectation.
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
            if getattr(thresholds, metric) is not None and rows[metric].notna().any()
        ]
        if expectations:
            suites[name] = gx.ExpectationSuite(name=f"quality.{task_type}", expectations=expectations)
    return suites
