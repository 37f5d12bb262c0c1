"""The curate stage of a run: filters, visual-token budgets, dedup and splits over the samples to release.

Reads the run folder's manifest (the samples the quality stage kept) and writes the curated split
manifest, the curation counts and every dropped sample with its reason.

The manifest is read twice, a batch at a time (``vlforge.curate.pipeline``), and the outputs are
written as the second reading goes, so memory holds the samples' summaries and one batch, whatever the
manifest's size. Merging same-image samples (``dedup.merge_same_image``, off by default) needs all the
samples of a picture at once, so with it on the stage reads the whole manifest into memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from vlforge.curate.downscale import downscale_sample, smallest_sizes
from vlforge.curate.pipeline import curate, log_curation, outcomes, survey
from vlforge.curate.result import LARGEST_GROUPS_SHOWN, CurateTally, Drop, KeptSample
from vlforge.curate.splits import assign_splits
from vlforge.manifest import iter_manifest, read_manifest, write_split_rows
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import atomic_open, atomic_write_text


def run_curate(run: RunDescription) -> dict[str, Any]:
    """Curate the samples the quality stage kept.

    Args:
        run: the run; its recipe's ``curate`` section and its seed (the splits) decide.

    Returns:
        The curation counts: samples in, kept, dropped, dropped per reason, samples per split, and the seed.
    """
    run_dir, store, config = run.run_dir, run.store, run.recipe.curate
    if config.dedup.merge_same_image:
        result = curate(read_manifest(run_dir.manifest), store, config, run.seed)
        samples_in, merged_from = result.samples_in, result.merged_from
        group_count, largest_groups = len(result.split_groups), result.split_groups[:LARGEST_GROUPS_SHOWN]
        duplicates = {pair.dropped: pair for pair in result.duplicate_pairs}
        curated: Iterable[Drop | KeptSample] = [*result.dropped, *result.kept]
    else:
        surveyed = survey(lambda: iter_manifest(run_dir.manifest), store, config)
        plan = assign_splits(surveyed.kept, surveyed.image_links, config.splits, run.seed)
        samples_in, merged_from, duplicates = surveyed.samples_in, {}, surveyed.duplicates
        group_count, largest_groups = len(plan), plan.largest(LARGEST_GROUPS_SHOWN)
        repeated_ids = surveyed.repeated_ids
        del surveyed  # the summaries: the second reading needs only the decisions
        curated = outcomes(iter_manifest(run_dir.manifest), config, duplicates, repeated_ids, plan)
    tally = CurateTally()
    downscaled = 0

    def kept_rows(drops: BinaryIO) -> Iterator[tuple[Sample, str]]:
        nonlocal downscaled
        for outcome in curated:
            if isinstance(outcome, Drop):
                tally.add_drop(outcome, duplicates.get(outcome.sample_id))
                drops.write((json.dumps(outcome.to_json(), sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
                continue
            tally.add_kept(outcome.split)
            sample = outcome.sample
            # A sample over a model's visual-token budget with over_budget: downscale is released resized.
            if outcome.resize_to:
                downscaled += 1
                sample = downscale_sample(sample, smallest_sizes(outcome.resize_to), store)
            yield sample, outcome.split

    with atomic_open(run_dir.curate_drops) as drops:
        write_split_rows(kept_rows(drops), run_dir.curated)
    if not config.dedup.merge_same_image:  # curate() logged the merging path
        log_curation(tally, samples_in, merged_from, downscaled)
    stats = {"samples_in": samples_in, **tally.to_json(samples_in, group_count, largest_groups, merged_from), "seed": run.seed}
    atomic_write_text(run_dir.curate_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
