"""Expectation suites, declared in Python, one per table that a gate validates."""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from vlforge.augment.config import OpSpec
from vlforge.config import Recipe
from vlforge.quality import expectations as ex
from vlforge.quality import frames
from vlforge.records import TASK_TYPES, Sample


def box_expectations() -> list[gx.expectations.Expectation]:
    """Every box lies inside its image and has a positive area (a ``frames.boxes_frame`` table)."""
    return [
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
    ]


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
        "boxes": gx.ExpectationSuite(name="ingest.boxes", expectations=box_expectations()),
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


# The augment gate checks each op's applied share only over at least this many eligible copies
# (the issue: "when the run has >= 1000 augmented samples"); below that, chance alone would often
# move a share by more than SHARE_TOLERANCE (the standard error at p = 0.5 and n = 1000 is 1.6 points).
MIN_COPIES_FOR_SHARES = 1000
SHARE_TOLERANCE = 0.05


def augment_tables(
    copies: list[Sample], parents: dict[str, Sample], specs: list[OpSpec]
) -> dict[str, pd.DataFrame]:
    """The augment gate's tables: ``boxes``, ``copies`` (one row per copy), ``op_shares`` (one row), ``paraphrases``.

    Args:
        copies: the augmented samples (``augmented.parquet``).
        parents: the curated samples by id (their parents).
        specs: the ops of the phase the copies were made in.
    """
    from vlforge.augment.stage import empty_conversation, op_counts, paraphrase_scores, parent_id, side_words_mismatch

    rows = []
    for copy in copies:
        parent = parents.get(parent_id(copy) or "")
        rows.append((copy.sample_id, empty_conversation(copy, parent), side_words_mismatch(copy, parent)))
    counts = op_counts(copies, specs)
    shares = {f"share_{name}": [entry["applied"] / entry["eligible"] if entry["eligible"] else None] for name, entry in counts.items()}
    eligible = {f"eligible_{name}": [entry["eligible"]] for name, entry in counts.items()}
    return {
        "boxes": frames.boxes_frame(copies),
        "copies": pd.DataFrame(rows, columns=["sample_id", "empty_conversation", "side_words_mismatch"]).astype(object),
        "op_shares": pd.DataFrame({"copies": [len(copies)], **shares, **eligible}),
        "paraphrases": pd.DataFrame(paraphrase_scores(copies), columns=["sample_id", "turn", "f1"]),
    }


def augment_suites(recipe: Recipe, tables: dict[str, pd.DataFrame], specs: list[OpSpec]) -> dict[str, gx.ExpectationSuite]:
    """The augment gate: boxes inside their images, answers kept, left/right true to the flips, op shares, paraphrases.

    An op's share expectation is added only when at least ``MIN_COPIES_FOR_SHARES`` copies were
    eligible for it (its task types); the ``paraphrases`` suite only when a paraphrase was scored.
    """
    suites = {
        "boxes": gx.ExpectationSuite(name="augment.boxes", expectations=box_expectations()),
        "copies": gx.ExpectationSuite(
            name="augment.copies",
            expectations=[
                ex.ExpectUniqueSampleIds(column="sample_id", description="Augmented sample ids are unique."),
                ex.ExpectNoEmptyConversation(
                    column="empty_conversation",
                    description="No copy lost every answer its parent had, and no turn is blank.",
                ),
                ex.ExpectSideWordsMatchFlips(
                    column="side_words_mismatch",
                    description="Each turn's left/right words equal the parent's, swapped when the copy was mirrored an "
                    "odd number of times (dropped turns left out).",
                ),
            ],
        ),
    }
    shares = tables["op_shares"]
    share_expectations = []
    for spec in specs:
        eligible = int(shares[f"eligible_{spec.name}"].iloc[0])
        if eligible < MIN_COPIES_FOR_SHARES:
            continue
        low, high = max(0.0, spec.probability - SHARE_TOLERANCE), min(1.0, spec.probability + SHARE_TOLERANCE)
        share_expectations.append(
            ex.ExpectOpAppliedShareNearProbability(
                column=f"share_{spec.name}",
                min_value=round(low, 6),
                max_value=round(high, 6),
                description=f"{spec.name} was applied to {spec.probability:.0%} +- {SHARE_TOLERANCE:.0%} of the "
                f"{eligible} copies it could apply to (checked only from {MIN_COPIES_FOR_SHARES} copies on).",
            )
        )
    if share_expectations:
        suites["op_shares"] = gx.ExpectationSuite(name="augment.op_shares", expectations=share_expectations)
    if len(tables["paraphrases"]):
        threshold = recipe.augment.paraphrase.bertscore_threshold
        suites["paraphrases"] = gx.ExpectationSuite(
            name="augment.paraphrases",
            expectations=[
                ex.ExpectParaphraseBertscoreAtLeast(
                    column="f1",
                    min_value=threshold,
                    description=f"Every kept paraphrase scored by BERTScore has F1 >= {threshold} against its original "
                    "(lexicon-rule paraphrases of text MiniLM cannot judge carry no F1).",
                )
            ],
        )
    return suites
