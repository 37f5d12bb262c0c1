"""The quality stage of a run: measure agreement, keep the samples to release, write the review tasks.

Reads the run folder's ingested rounds and writes its manifest (one sample per item, with metrics),
the agreement table (every compared item), the review tasks and the agreement counts.
"""

from __future__ import annotations

import io
import json
from typing import Any

from vlforge.manifest import read_manifest, write_manifest
from vlforge.quality.agreement import TextScorer, measure_agreement
from vlforge.quality.metrics.bertscore import EncoderScorers
from vlforge.quality.review import write_review
from vlforge.run import RunDescription
from vlforge.store import atomic_write_bytes, atomic_write_text


def run_agreement(run: RunDescription, scorer: TextScorer | None = None) -> dict[str, Any]:
    """Run the quality stage over a run folder.

    Args:
        run: the run; its recipe's ``quality`` section holds the thresholds and text encoders.
        scorer: the text scorer; by default vlforge's BERTScore with the recipe's encoders, each loaded on first use.

    Returns:
        The stage's counts.
    """
    run_dir, settings = run.run_dir, run.recipe.quality
    samples = read_manifest(run_dir.ingested)
    result = measure_agreement(samples, settings, scorer or EncoderScorers(settings.bertscore_batch_size))
    write_manifest(result.released, run_dir.manifest)
    table = io.BytesIO()
    result.table().to_parquet(table, index=False)
    atomic_write_bytes(run_dir.agreement, table.getvalue())
    stats = {"rounds_in": len(samples), **result.stats(), "review_tasks": write_review(result.review, run_dir.review)}
    atomic_write_text(run_dir.agreement_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
