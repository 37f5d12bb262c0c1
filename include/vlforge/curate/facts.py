"""The rules the curate gate applies to the facts in ``curate_stats.json``.

``curate`` stores the numbers (``CurateResult.to_json``: drops per reason with examples, the
drop share, samples per split, the largest split groups with what linked them); these rules
apply the recipe's limits to them (``drop_limit_problem``, ``split_rows``), so the report,
dashboards and the gate read the same numbers. A rule returns None when the fact is within
the recipe's limit, else a sentence that says what is wrong and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlforge.curate.config import CurateConfig, SplitConfig
from vlforge.curate.result import SPLITS

TOP_REASONS_SHOWN = 3


def drop_limit_problem(stats: Mapping[str, Any], config: CurateConfig) -> str | None:
    """None when curation dropped at most ``max_drop_share`` of its samples, else the top reasons with examples."""
    share, limit = float(stats["drop_share"]), config.max_drop_share
    if share <= limit + 1e-12:
        return None
    by_count = sorted(stats["dropped_by_reason"].items(), key=lambda entry: (-entry[1], entry[0]))
    reasons = [
        f"{reason} {count} (e.g. {'; '.join(stats['drop_examples'].get(reason, [])[:2])})"
        for reason, count in by_count[:TOP_REASONS_SHOWN]
    ]
    return (
        f"curation dropped {stats['dropped']} of {stats['samples_in']} samples ({share:.1%}), more than "
        f"curate.max_drop_share {limit:.0%}; top reasons: {', '.join(reasons)}"
    )


def split_rows(stats: Mapping[str, Any], ratios: SplitConfig) -> list[dict[str, Any]]:
    """One row per split: samples, share, target, deviation and ``off_target`` (None, or why it misses).

    A split is off target when its share of the kept samples is further than ``tolerance``
    from its ratio and the recipe does not set ``accept_off_target``; the reason names the
    split, its count and share, the target, and the largest groups with what linked them.
    """
    counts = stats["splits"]
    total = sum(counts.values())
    largest = "; ".join(stats["largest_split_groups"])
    rows = []
    for split in SPLITS:
        share = counts[split] / total if total else 0.0
        target = getattr(ratios, split)
        deviation = abs(share - target)
        off_target = None
        if deviation > ratios.tolerance + 1e-12 and not ratios.accept_off_target:
            off_target = (
                f"{split} has {counts[split]} of {total} samples ({share:.1%}), target {target:.0%} "
                f"+- {ratios.tolerance:.0%}; {stats['split_groups']} groups must not straddle splits, "
                f"largest: {largest or 'none'} (curate.splits.accept_off_target: true releases it anyway)"
            )
        rows.append(
            {"split": split, "samples": counts[split], "share": share, "target": target, "deviation": deviation, "off_target": off_target}
        )
    return rows
