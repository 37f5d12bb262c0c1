"""The curate stage of a run: filters, visual-token budgets, dedup and splits over the samples to release.

Reads the run folder's manifest (the samples the quality stage kept) and writes the curated split
manifest, the curation counts and every dropped sample with its reason.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from vlforge.curate.downscale import downscale_sample, smallest_sizes
from vlforge.curate.pipeline import curate
from vlforge.manifest import read_manifest, write_split_manifest
from vlforge.run import RunDescription
from vlforge.store import atomic_write_text


def run_curate(run: RunDescription) -> dict[str, Any]:
    """Curate the samples the quality stage kept.

    Args:
        run: the run; its recipe's ``curate`` section and its seed (the splits) decide.

    Returns:
        The curation counts: samples in, kept, dropped, dropped per reason, samples per split, and the seed.
    """
    run_dir, store = run.run_dir, run.store
    samples = read_manifest(run_dir.manifest)
    result = curate(samples, store, run.recipe.curate, run.seed)
    # A sample over a model's visual-token budget with over_budget: downscale is released resized.
    kept = [
        replace(item, sample=downscale_sample(item.sample, smallest_sizes(item.resize_to), store)) if item.resize_to else item
        for item in result.kept
    ]
    write_split_manifest([item.sample for item in kept], [item.split for item in kept], run_dir.curated)
    drops = "".join(json.dumps(drop.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for drop in result.dropped)
    atomic_write_text(run_dir.curate_drops, drops)
    stats = {"samples_in": len(samples), **result.to_json(), "seed": run.seed}
    atomic_write_text(run_dir.curate_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
