"""Paraphrasing applied to a shard's augmented copies: draw, paraphrase, filter by BERTScore, record."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from vlforge.augment.config import AugmentConfig
from vlforge.augment.paraphrase import Paraphraser, RuleParaphraser, TransformersParaphraser
from vlforge.augment.paraphrase.filter import Scorer, filter_paraphrases
from vlforge.augment.pipeline import sample_rng
from vlforge.manifest import AugmentedCopy
from vlforge.quality.metrics.bertscore import LazyBertScorer
from vlforge.records import LineageOp


def paraphrase_copies(
    out: list[AugmentedCopy], config: AugmentConfig, seed: int, scorer: Scorer | None
) -> tuple[list[AugmentedCopy], dict[str, int]]:
    """Paraphrase the answers of a ``paraphrase.probability`` share of the copies, filtered by BERTScore.

    Each copy draws from its own generator (``sample_rng(seed, "<id>/paraphrase", 0)``), so a copy's
    paraphrase does not depend on the other copies of its shard. A kept paraphrase is recorded as a
    ``paraphrase`` lineage entry (backend, threshold, and per turn its F1 and rule), which image replay skips.

    Args:
        out: the copies of one shard.
        config: the ``augment`` section.
        seed: the run's seed.
        scorer: the BERTScore scorer; by default vlforge's, loaded on first use.

    Returns:
        The copies with kept paraphrases applied, and counts: candidates, unchanged, kept, rejected.
    """
    settings = config.paraphrase
    paraphraser = _paraphraser(config)
    where: list[tuple[int, int]] = []
    originals: list[str] = []
    candidates: list[str] = []
    unchanged = 0
    for position, copy in enumerate(out):
        sample = copy.sample
        rng = sample_rng(seed, f"{sample.sample_id}/paraphrase", 0)
        if not rng.random() < settings.probability:
            continue
        turns = [i for i, turn in enumerate(sample.conversations) if turn.role == "assistant" and turn.content.strip()]
        texts = [sample.conversations[i].content for i in turns]
        for index, text, candidate in zip(turns, texts, paraphraser.paraphrase(texts, rng), strict=True):
            if " ".join(text.split()) == " ".join(candidate.split()):
                unchanged += 1
                continue
            where.append((position, index))
            originals.append(text)
            candidates.append(candidate)
    counts = {"candidates": len(candidates) + unchanged, "unchanged": unchanged, "kept": 0, "rejected": 0}
    if not candidates:
        return out, counts
    if scorer is None:
        scorer = LazyBertScorer(settings.bertscore_batch_size)
    kept, rejected = filter_paraphrases(originals, candidates, scorer, settings.bertscore_threshold)
    counts.update(kept=len(kept), rejected=rejected)
    by_sample: dict[int, list[tuple[int, Any]]] = {}
    for item in kept:
        position, turn = where[item.index]
        by_sample.setdefault(position, []).append((turn, item))
    result = list(out)
    for position, items in by_sample.items():
        sample = out[position].sample
        turns = list(sample.conversations)
        for turn, item in items:
            turns[turn] = turns[turn].model_copy(update={"content": item.paraphrase})
        entry = LineageOp(
            op="paraphrase",
            params_json=json.dumps(
                {
                    "backend": settings.backend,
                    "threshold": settings.bertscore_threshold,
                    "turns": [{"turn": turn, "f1": item.f1, "rule": item.rule} for turn, item in items],
                },
                sort_keys=True,
            ),
        )
        new = sample.model_copy(update={"conversations": tuple(turns), "lineage": (*sample.lineage, entry)})
        result[position] = replace(out[position], sample=new)
    return result, counts


def _paraphraser(config: AugmentConfig) -> Paraphraser:
    settings = config.paraphrase
    if settings.backend == "model":
        return TransformersParaphraser(str(settings.model_path), kind=settings.model_kind)
    return RuleParaphraser(substitute_rate=settings.substitute_rate, restructure_rate=settings.restructure_rate)
