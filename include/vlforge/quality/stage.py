"""The quality stage of a run: measure agreement, keep the samples to release, write the review tasks.

Reads the run folder's ingested rounds and writes its manifest (one sample per item, with metrics),
the agreement table (every compared item), the review tasks and the agreement counts.

Items are measured a chunk at a time (``CHUNK_ROWS`` rounds, every round of an item in one chunk, chunks in item
order), and each chunk's released samples, table rows and review tasks are appended to the outputs: the stage holds
one chunk whatever the size of the run, and writes the same bytes as measuring every item at once. A pair's
BERTScore does not depend on the other pairs scored with it (``vlforge.quality.metrics.bertscore``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from vlforge.manifest import iter_key_ranges, read_columns, write_manifest
from vlforge.quality.agreement import AgreementResult, AgreementTable, TextScorer, item_keys, measure_agreement
from vlforge.quality.metrics.bertscore import EncoderScorers
from vlforge.quality.review import ReviewWriter
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import atomic_write_text

# Ingested rounds measured at once; more means fewer, larger BERTScore calls and more memory.
CHUNK_ROWS = 4096


def run_agreement(run: RunDescription, scorer: TextScorer | None = None, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Run the quality stage over a run folder.

    Args:
        run: the run; its recipe's ``quality`` section holds the thresholds and text encoders.
        scorer: the text scorer; by default vlforge's BERTScore with the recipe's encoders, each loaded on first use.
        chunk_rows: the fewest rounds measured at once (but the last chunk); the outputs do not depend on it.

    Returns:
        The stage's counts.
    """
    run_dir, settings = run.run_dir, run.recipe.quality
    scorer = scorer or EncoderScorers(settings.bertscore_batch_size)
    keys = item_keys(read_columns(run_dir.ingested, ["item_id", "sample_id"]))
    counts = Counter(AgreementResult().stats())  # every count, at 0 until a chunk adds to it
    table = AgreementTable()
    with ReviewWriter(run_dir.review) as review:

        def released() -> Iterator[Sample]:
            for rounds in iter_key_ranges(run_dir.ingested, keys, chunk_rows, run_dir.path):
                result = measure_agreement(rounds, settings, scorer)
                counts.update(result.stats())
                table.add(result)
                review.add(result.review)
                yield from result.released

        write_manifest(released(), run_dir.manifest)
    table.write(run_dir.agreement)
    stats = {"rounds_in": len(keys), **counts, "review_tasks": review.written}
    atomic_write_text(run_dir.agreement_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats
