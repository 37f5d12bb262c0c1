"""The curate stage in one call: filters, visual-token budget, dedup, splits.

Order matters: filters and the budget run first, so that a duplicate is dropped only
in favour of a sample that is itself usable; dedup runs on the survivors; the splits
keep every item's rounds, every image's samples and near-duplicate images together. With
``dedup.merge_same_image`` the kept conversation samples of one picture become one
multi-turn sample before the splits (``vlforge.curate.merge``).

Curation reads the samples twice and holds none of them in between: ``survey`` screens each
sample and keeps a summary of the survivors (``vlforge.curate.summaries``), on which dedup and the
splits decide; ``outcomes`` then screens them again and hands each one back dropped or kept with its
split. So a manifest of any size is curated in memory for its summaries, one sample at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from vlforge.curate.config import CurateConfig
from vlforge.curate.dedup import (
    GramNumbering,
    GramTable,
    ImageHashes,
    ImageLink,
    candidate_pairs,
    choose_duplicates,
    duplicate_drop,
    duplicate_pairs,
)
from vlforge.curate.filters import filter_drops, sample_stats
from vlforge.curate.merge import merge_same_image
from vlforge.curate.result import CurateResult, CurateTally, Drop, DuplicatePair, KeptSample, make_drop
from vlforge.curate.splits import SplitPlan, assign_splits
from vlforge.curate.summaries import SampleSummaries, sample_detail
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


def screen(sample: Sample, config: CurateConfig) -> Drop | list[BudgetOutcome]:
    """The filter or budget drop of ``sample``, or its budget outcomes when it passes both.

    A sample that fails several filters is dropped with the first failure (sides, aspect ratio,
    text length, empty answers, in that order).
    """
    failures = filter_drops(sample, sample_stats(sample), config.filters)
    if failures:
        return failures[0]
    outcomes = budget_outcomes(sample, config)
    refused = next((outcome for outcome in outcomes if outcome.decision == "drop"), None)
    return outcomes if refused is None else _budget_drop(sample, refused)


@dataclass(frozen=True)
class Survey:
    """What dedup decided over the samples that passed the filters and the budget.

    Attributes:
        samples_in: how many samples were screened.
        kept: the summaries of the samples that passed and are not duplicates, by position in input order.
        duplicates: each sample dropped as a duplicate, by its id, with the kept sample it duplicates (visiting order).
        image_links: near-duplicate image pairs among the passed samples' images (for the splits).
        repeated_ids: sample ids that more than one passed sample has (``sort_out`` names their records).
    """

    samples_in: int
    kept: SampleSummaries
    duplicates: Mapping[str, DuplicatePair]
    image_links: tuple[ImageLink, ...]
    repeated_ids: frozenset[str] = frozenset()


def survey(
    read: Callable[[], Iterable[Sample]],
    store: ImageStore,
    config: CurateConfig,
    hash_cache: MutableMapping[str, int] | None = None,
) -> Survey:
    """Screen the samples one at a time, summarise the survivors, and deduplicate the summaries.

    Args:
        read: gives the samples from the first, each time it is called; their images must be in ``store``. They
            are read once, and a second time only when dedup has candidate pairs, for those pairs' samples.
        store: the content-addressed image store.
        config: the recipe's curate section.
        hash_cache: sha256 -> pHash reused across calls and filled in.

    Raises:
        FileNotFoundError: naming a surviving sample whose image is not in the store.
    """
    numbering = GramNumbering(config.dedup)
    hashes = ImageHashes(store, hash_cache)
    summaries = SampleSummaries()
    texts = GramTable()
    samples_in = 0
    for row, sample in enumerate(read()):
        samples_in += 1
        if isinstance(screen(sample, config), Drop):
            continue
        if config.dedup.image_max_distance is not None:
            hashes.add(sample)
        summaries.add(sample, row)
        texts.append(numbering.grams(sample))
    del numbering
    repeated = summaries.repeated_ids()
    links = tuple(hashes.links(config.dedup.image_max_distance))
    del hashes
    found: dict[tuple[int, int], tuple[str, str]] = {}
    if config.dedup.enabled and not repeated:  # with an id twice, ``sort_out`` stops the run naming both records
        candidates = candidate_pairs(summaries, texts, links, config.dedup)
        del texts
        wanted = {summaries.row_of(position): position for pair in candidates for position in pair}
        details = {}
        if wanted:
            for row, sample in enumerate(read()):
                if row in wanted:
                    details[wanted[row]] = sample_detail(sample, config.dedup)
        found = duplicate_pairs(summaries, candidates, details, links, config.dedup)
    duplicates = {pair.dropped: pair for pair in choose_duplicates(summaries, found)}
    dropped = {position for pair in found for position in pair if summaries.sample_id(position) in duplicates}
    kept = summaries.take(position for position in range(len(summaries)) if position not in dropped)
    return Survey(samples_in=samples_in, kept=kept, duplicates=duplicates, image_links=links, repeated_ids=repeated)


@dataclass(frozen=True)
class Passed:
    """A sample that passed the filters and the budget and is not a duplicate, with its budget outcomes."""

    sample: Sample
    budgets: list[BudgetOutcome]


def sort_out(
    samples: Iterable[Sample], config: CurateConfig, duplicates: Mapping[str, DuplicatePair], repeated_ids: Collection[str]
) -> Iterator[Drop | Passed]:
    """Each of ``samples``, in order, as its ``Drop`` (filter, budget or dedup: ``duplicates``) or as ``Passed``.

    Raises:
        ValueError: naming a sample id that two passed samples share, and both of their records.
    """
    first_records: dict[str, Sample] = {}
    for sample in samples:
        screened = screen(sample, config)
        if isinstance(screened, Drop):
            yield screened
            continue
        if sample.sample_id in repeated_ids:
            earlier = first_records.setdefault(sample.sample_id, sample)
            if earlier is not sample:
                raise ValueError(
                    f"sample_id {sample.sample_id!r} occurs twice ({earlier.source.file} record "
                    f"{earlier.source.record_id}, {sample.source.file} record {sample.source.record_id})"
                )
        if sample.sample_id in duplicates:
            yield duplicate_drop(sample, duplicates[sample.sample_id], config.dedup.level)
        else:
            yield Passed(sample, screened)


def kept_sample(sample: Sample, budgets: Sequence[BudgetOutcome], plan: SplitPlan, position: int) -> KeptSample:
    """``sample`` with its split and group from ``plan`` (``position`` in the samples split) and its tokens and downscale targets."""
    return KeptSample(
        sample=sample,
        split=plan.split_at(position),
        visual_tokens={outcome.model: outcome.tokens_after for outcome in budgets},
        resize_to={outcome.model: outcome.resize_to for outcome in budgets if outcome.decision == "downscale"},
        group=plan.group_key_at(position),
    )


def outcomes(
    samples: Iterable[Sample],
    config: CurateConfig,
    duplicates: Mapping[str, DuplicatePair],
    repeated_ids: Collection[str],
    plan: SplitPlan,
) -> Iterator[Drop | KeptSample]:
    """Each of ``samples`` (those ``survey`` read), in order, as its ``Drop`` or as a ``KeptSample`` in its split (no merging)."""
    position = 0
    for outcome in sort_out(samples, config, duplicates, repeated_ids):
        if isinstance(outcome, Drop):
            yield outcome
        else:
            yield kept_sample(outcome.sample, outcome.budgets, plan, position)
            position += 1


def log_curation(tally: CurateTally, samples_in: int, merged_from: Mapping[str, Sequence[str]], downscaled: int) -> None:
    """One line: samples in, kept per split, merged, downscaled, dropped per reason."""
    logger.info(
        "curate: %d samples in, %d kept (%s), %d merged into %d conversations, %d downscaled to fit a token budget, %d dropped: %s",
        samples_in,
        tally.kept,
        ", ".join(f"{split} {count}" for split, count in tally.split_counts().items()),
        sum(len(members) for members in merged_from.values()),
        len(merged_from),
        downscaled,
        tally.dropped,
        ", ".join(f"{reason} {count}" for reason, count in tally.counts().items()) or "none",
    )


def curate(
    samples: Sequence[Sample],
    store: ImageStore,
    config: CurateConfig,
    seed: int,
    hash_cache: MutableMapping[str, int] | None = None,
) -> CurateResult:
    """Filter, budget, deduplicate and split ``samples``.

    Args:
        samples: the samples; their images must be in ``store``.
        store: the content-addressed image store.
        config: the recipe's curate section.
        seed: the release seed for the splits.
        hash_cache: sha256 -> pHash reused across calls and filled in.

    Returns:
        Kept samples (input order) with split, tokens and downscale targets; drops in input order.
    """
    surveyed = survey(lambda: samples, store, config, hash_cache)
    dropped: list[Drop] = []
    merged_from: dict[str, list[str]] = {}
    if config.dedup.merge_same_image:
        passed = []
        for outcome in sort_out(samples, config, surveyed.duplicates, surveyed.repeated_ids):
            (dropped if isinstance(outcome, Drop) else passed).append(outcome)
        budgets = {item.sample.sample_id: item.budgets for item in passed}
        kept_samples, merged_from = merge_same_image([item.sample for item in passed])
        for merged_id, members in merged_from.items():
            budgets[merged_id] = budgets[members[0]]  # the same images: the same tokens and resize
        plan = assign_splits(kept_samples, surveyed.image_links, config.splits, seed)
        kept = [kept_sample(sample, budgets[sample.sample_id], plan, position) for position, sample in enumerate(kept_samples)]
    else:
        plan = assign_splits(surveyed.kept, surveyed.image_links, config.splits, seed)
        kept = []
        for outcome in outcomes(samples, config, surveyed.duplicates, surveyed.repeated_ids, plan):
            (dropped if isinstance(outcome, Drop) else kept).append(outcome)
    result = CurateResult(
        kept=tuple(kept),
        dropped=tuple(dropped),
        samples_in=surveyed.samples_in,
        duplicate_pairs=tuple(surveyed.duplicates.values()),
        split_groups=plan.groups,
        merged_from={merged_id: tuple(members) for merged_id, members in merged_from.items()},
    )
    log_curation(result.tally(), result.samples_in, result.merged_from, sum(1 for item in kept if item.resize_to))
    return result
