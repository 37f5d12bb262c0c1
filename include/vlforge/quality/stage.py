"""The quality stage of a run: measure agreement, keep the samples to release, write the review tasks.

Reads ``ingested.parquet`` from the run's stage and writes ``manifest.parquet``
(one sample per item, with metrics), ``agreement.parquet`` (every compared item),
``review/`` and ``agreement_stats.json``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from vlforge.config import Recipe
from vlforge.layout import AGREEMENT, INGESTED, MANIFEST
from vlforge.manifest import read_manifest, write_manifest
from vlforge.quality.agreement import TextScorer, measure_agreement
from vlforge.quality.review import write_review
from vlforge.store import atomic_write_bytes, atomic_write_text

REVIEW_DIR = "review"


class LazyBertScorer:
    """vlforge's BERTScore, loaded on the first pair to score: most runs without two captioned rounds never load it."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._scorer: TextScorer | None = None

    def is_meaningful(self, text: str) -> bool:
        from vlforge.quality.metrics.bertscore import is_meaningful

        return is_meaningful(text)

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        if self._scorer is None:
            from vlforge.quality.metrics.bertscore import BertScorer

            self._scorer = BertScorer(batch_size=self.batch_size)
        return self._scorer.score(candidates, references)


def run_agreement(stage: Path, recipe: Recipe, scorer: TextScorer | None = None) -> dict[str, Any]:
    """Run the quality stage over a staged run.

    Args:
        stage: the run's stage folder.
        recipe: the thresholds.
        scorer: the text scorer; by default vlforge's BERTScore (``LazyBertScorer``).

    Returns:
        The stage's counts.
    """
    samples = read_manifest(stage / INGESTED)
    result = measure_agreement(samples, recipe.quality, scorer or LazyBertScorer(recipe.quality.bertscore_batch_size))
    write_manifest(result.released, stage / MANIFEST)
    table = io.BytesIO()
    result.table().to_parquet(table, index=False)
    atomic_write_bytes(stage / AGREEMENT, table.getvalue())
    stats = {"rounds_in": len(samples), **result.stats(), "review_tasks": write_review(result.review, stage / REVIEW_DIR)}
    atomic_write_text(stage / "agreement_stats.json", json.dumps(stats, indent=2, sort_keys=True))
    return stats
