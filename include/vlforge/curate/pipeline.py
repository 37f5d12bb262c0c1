"""The curate stage in one call: filters, visual-token budget, dedup, splits.

Order matters: filters and the budget run first, so that a duplicate is dropped only
in favour of a sample that is itself usable; dedup runs on the survivors; the splits
keep every item's rounds, every image's samples and near-duplicate images together. With
``dedup.merge_same_image`` the kept conversation samples of one picture become one
multi-turn sample before the splits (``vlforge.curate.merge``).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, Sequence

from vlforge.curate.config import CurateConfig
from vlforge.curate.dedup import find_duplicates
from vlforge.curate.filters import filter_drops, sample_stats
from vlforge.curate.merge import merge_same_image
from vlforge.curate.result import CurateResult, Drop, KeptSample, make_drop
from vlforge.curate.splits import assign_splits
from vlforge.curate.tokens import BudgetOutcome, check_budget
from vlforge.records import Sample
from vlforge.store import ImageStore

logger = logging.getLogger(__name__)


def budget_outcomes(sample: Sample, config: CurateConfig) -> list[BudgetOutcome]:
    """The token-budget outcome of ``sample`` for every model in the config, by model name."""
    return [check_budget(sample.images, model, budget) for model, budget in sorted(config.token_budgets.items())]


def _budget_drop(sample: Sample, outcome: BudgetOutcome) -> Drop:
    reason = "over_token_budget" if outcome.tokens else "resize_rejected"
    return make_drop(sample, "budget", reason, "images", f"{outcome.tokens} tokens ({outcome.model})", outcome.detail)


def curate(
    samples: Sequence[Sample],
    store: ImageStore,
    config: CurateConfig,
    seed: int,
    hash_cache: MutableMapping[str, int] | None = None,
) -> CurateResult:
    """Filter, budget, deduplicate and split ``samples``.

    A sample that fails several filters is dropped with the first failure (sides,
    aspect ratio, text length, empty answers, in that order).

    Args:
        samples: the samples; their images must be in ``store``.
        store: the content-addressed image store.
        config: the recipe's curate section.
        seed: the release seed for the splits.
        hash_cache: sha256 -> pHash reused across calls and filled in.

    Returns:
        Kept samples (input order) with split, tokens and downscale targets; drops in input order.
    """
    dropped: dict[str, Drop] = {}
    budgets: dict[str, list[BudgetOutcome]] = {}
    for sample in samples:
        failures = filter_drops(sample, sample_stats(sample), config.filters)
        if failures:
            dropped[sample.sample_id] = failures[0]
            continue
        outcomes = budget_outcomes(sample, config)
        refused = next((outcome for outcome in outcomes if outcome.decision == "drop"), None)
        if refused is not None:
            dropped[sample.sample_id] = _budget_drop(sample, refused)
            continue
        budgets[sample.sample_id] = outcomes

    survivors = [sample for sample in samples if sample.sample_id in budgets]
    duplicates = find_duplicates(survivors, store, config.dedup, hash_cache)
    for drop in duplicates.drops:
        dropped[drop.sample_id] = drop
    kept_samples = [sample for sample in survivors if sample.sample_id not in dropped]
    merged_from: dict[str, list[str]] = {}
    if config.dedup.merge_same_image:
        kept_samples, merged_from = merge_same_image(kept_samples)
        for merged_id, members in merged_from.items():
            budgets[merged_id] = budgets[members[0]]  # the same images: the same tokens and resize
    plan = assign_splits(kept_samples, duplicates.image_links, config.splits, seed)

    kept = tuple(
        KeptSample(
            sample=sample,
            split=plan.split_of[sample.sample_id],
            visual_tokens={outcome.model: outcome.tokens_after for outcome in budgets[sample.sample_id]},
            resize_to={
                outcome.model: outcome.resize_to for outcome in budgets[sample.sample_id] if outcome.decision == "downscale"
            },
            group=plan.group_of[sample.sample_id],
        )
        for sample in kept_samples
    )
    result = CurateResult(
        kept=kept,
        dropped=tuple(dropped[sample.sample_id] for sample in samples if sample.sample_id in dropped),
        samples_in=len(samples),
        duplicate_pairs=duplicates.pairs,
        split_groups=plan.groups,
        merged_from={merged_id: tuple(members) for merged_id, members in merged_from.items()},
    )
    downscaled = sum(1 for item in kept if item.resize_to)
    logger.info(
        "curate: %d samples in, %d kept (%s), %d merged into %d conversations, %d downscaled to fit a token budget, %d dropped: %s",
        len(samples),
        len(kept),
        ", ".join(f"{split} {count}" for split, count in result.split_counts().items()),
        sum(len(members) for members in merged_from.values()),
        len(merged_from),
        downscaled,
        len(result.dropped),
        ", ".join(f"{reason} {count}" for reason, count in result.counts().items()) or "none",
    )
    return result
