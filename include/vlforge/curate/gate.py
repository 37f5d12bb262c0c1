"""The curate gate: dedup, filters and budgets drop at most the recipe's share, and every split is near its ratio.

Its tables are built from ``curate_stats.json`` (the numbers ``vlforge.curate.facts`` computes):
one row with the drop counts and share, and one row per split with its share and target. The
expectations check a column that is None where the recipe is met and otherwise says why (the top
drop reasons with example pairs; the split, its share and the largest groups with what linked
them), so a failed gate's message carries the reason itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import great_expectations as gx
import pandas as pd

from vlforge import expectations as ex
from vlforge.curate.config import CurateConfig
from vlforge.curate.facts import drop_limit_problem, split_rows
from vlforge.gates import run_gate
from vlforge.run import RunDescription


def curate_tables(stats: Mapping[str, Any], config: CurateConfig) -> dict[str, pd.DataFrame]:
    """The gate's tables: ``drops`` (one row) and ``splits`` (one row per split).

    Args:
        stats: ``curate_stats.json``'s content.
        config: the recipe's curate section (the limits).

    Returns:
        ``{"drops": ..., "splits": ...}``; ``over_limit`` and ``off_target`` are None where the recipe is met.
    """
    drops = pd.DataFrame(
        [
            {
                "samples_in": stats["samples_in"],
                "dropped": stats["dropped"],
                "drop_share": float(stats["drop_share"]),
                "max_drop_share": config.max_drop_share,
                "over_limit": drop_limit_problem(stats, config),
            }
        ]
    ).astype({"over_limit": object})
    splits = pd.DataFrame(split_rows(stats, config.splits)).astype({"off_target": object})
    return {"drops": drops, "splits": splits}


def curate_suites(config: CurateConfig) -> dict[str, gx.ExpectationSuite]:
    """The drop limit and the split shares."""
    ratios = config.splits
    accepted = " (the recipe accepts splits off target)" if ratios.accept_off_target else ""
    return {
        "drops": gx.ExpectationSuite(
            name="curate.drops",
            expectations=[
                ex.ExpectCurateDropsWithinLimit(
                    column="over_limit",
                    description=f"Dedup, filters and token budgets drop at most {config.max_drop_share:.0%} of the samples.",
                )
            ],
        ),
        "splits": gx.ExpectationSuite(
            name="curate.splits",
            expectations=[
                ex.ExpectSplitsNearRecipe(
                    column="off_target",
                    description=f"Splits hold train {ratios.train:.0%}, val {ratios.val:.0%}, test {ratios.test:.0%} "
                    f"of the samples, each within {ratios.tolerance:.0%}{accepted}.",
                )
            ],
        ),
    }


def run_curate_gate(run: RunDescription) -> dict[str, Any]:
    """The gate after curate, over the run folder's ``curate_stats.json``.

    Raises:
        GateFailed: naming each failed expectation with the reason (the top drop reasons and
            example pairs; the off-target split with the largest groups and what linked them).
    """
    config = run.recipe.curate
    stats = json.loads(run.run_dir.curate_stats.read_text(encoding="utf-8"))
    return asdict(run_gate("curate", curate_tables(stats, config), curate_suites(config), run.run_dir))
