"""The augment gate: copies true to their images and parents, op shares near their probabilities, paraphrases kept close."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import great_expectations as gx
import pandas as pd

from vlforge import expectations as ex
from vlforge.augment.config import OpSpec
from vlforge.augment.lineage import empty_conversation, op_counts, paraphrase_scores, parent_id, side_words_mismatch
from vlforge.config import Recipe
from vlforge.gates import run_gate
from vlforge.layout import RunDir
from vlforge.manifest import cyclic_gc_off, read_augmented, read_samples_by_id
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.tables import boxes_table

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
        copies: the augmented samples.
        parents: the curated samples by id (their parents).
        specs: the ops of the phase the copies were made in.
    """
    rows = []
    for copy in copies:
        parent = parents.get(parent_id(copy) or "")
        rows.append((copy.sample_id, empty_conversation(copy, parent), side_words_mismatch(copy, parent)))
    counts = op_counts(copies, specs)
    shares = {f"share_{name}": [entry["applied"] / entry["eligible"] if entry["eligible"] else None] for name, entry in counts.items()}
    eligible = {f"eligible_{name}": [entry["eligible"]] for name, entry in counts.items()}
    return {
        "boxes": boxes_table(copies),
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
        "boxes": gx.ExpectationSuite(name="augment.boxes", expectations=ex.box_expectations()),
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


def run_augment_gate(run: RunDescription) -> dict[str, Any]:
    """The gate after augmentation, over the augmented copies and their parents in the curated manifest.

    Checks every copy's boxes (inside the image, positive area), that no copy lost its answers,
    that left/right words agree with the copy's flips, each op's applied share (from 1000 eligible
    copies on) and every kept paraphrase's BERTScore (``augment_suites``).

    Raises:
        GateFailed: naming each failed expectation.
    """
    run_dir, recipe = run.run_dir, run.recipe
    stats = json.loads(run_dir.augment_stats.read_text(encoding="utf-8"))
    specs = recipe.augment.phase_specs(stats["phase"]) if stats["phase"] else []
    # The copies and their parents are freed before the collector is back on, so it never walks them: it took
    # 1.3 s of this gate's 4.1 s at 18,000 copies (``cyclic_gc_off``).
    with cyclic_gc_off():
        checked = _read_augment_tables(run_dir, specs)
    suites = augment_suites(recipe, checked, specs)
    return asdict(run_gate("augment", {name: checked[name] for name in suites}, suites, run_dir))


def _read_augment_tables(run_dir: RunDir, specs: list[OpSpec]) -> dict[str, pd.DataFrame]:
    """``augment_tables`` of the run's augmented copies and their parents in the curated manifest."""
    copies = read_augmented(run_dir.augmented)
    # Only the copies' own parents: the rest of the curated manifest is never read into memory.
    wanted = sorted({parent for parent in (parent_id(copy) for copy in copies) if parent})
    parents = {sample.sample_id: sample for sample in read_samples_by_id(run_dir.curated, wanted)} if wanted else {}
    return augment_tables(copies, parents, specs)
