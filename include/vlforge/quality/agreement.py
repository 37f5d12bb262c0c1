"""Agreement between independent annotation rounds of the same item, and what it decides.

For every item (a Label Studio task) the first two rounds are compared: box IoU
(one-to-one per label), OCR accuracy (round 1 as the reference), GUI action
completeness, and BERTScore between their captions and answers. The numbers are
stored on the released sample (``Sample.metrics``) so that gates, reports and
dashboards read the same values. An item below a per-sample threshold is held
back for review; an item with an adjudicated (gold) round releases that round.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from vlforge.config import QualityConfig
from vlforge.quality.metrics.actions import action_completeness
from vlforge.quality.metrics.iou import iou_agreement
from vlforge.quality.metrics.ocr import sample_ocr_accuracy
from vlforge.records import Metrics, Sample

log = logging.getLogger(__name__)
METRICS = ("iou_agreement", "ocr_accuracy", "action_completeness", "bertscore_f1")
METRIC_COLUMNS = (*METRICS, "bertscore_precision", "bertscore_recall")


class TextScorer(Protocol):
    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]: ...

    def is_meaningful(self, text: str) -> bool: ...


@dataclass
class ReviewItem:
    """An item whose rounds disagree: every round, and each metric below its threshold."""

    item_id: str
    rounds: list[Sample]
    metrics: Metrics
    below: dict[str, tuple[float, float]]


@dataclass
class AgreementResult:
    released: list[Sample] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    superseded: int = 0
    resolved_by_gold: int = 0

    def table(self) -> pd.DataFrame:
        """One row per item with its status and metrics (NaN where not measured): what gates and reports read."""
        rows = [(item_key(s), s.task_type, "released", s.metrics) for s in self.released]
        rows += [(item.item_id, item.rounds[0].task_type, "review", item.metrics) for item in self.review]
        return pd.DataFrame(
            [
                {"item_id": key, "task_type": task_type, "status": status, "rounds_compared": metrics.rounds_compared}
                | {name: getattr(metrics, name) for name in METRIC_COLUMNS}
                for key, task_type, status, metrics in rows
            ],
            columns=["item_id", "task_type", "status", "rounds_compared", *METRIC_COLUMNS],
        ).astype({name: "float64" for name in METRIC_COLUMNS})

    def stats(self) -> dict[str, int]:
        return {
            "items_released": len(self.released),
            "items_in_review": len(self.review),
            "rounds_superseded": self.superseded,
            "rounds_in_review": sum(len(item.rounds) for item in self.review),
            "items_resolved_by_gold": self.resolved_by_gold,
        }


def item_key(sample: Sample) -> str:
    return sample.item_id or sample.sample_id


def measure_agreement(samples: list[Sample], quality: QualityConfig, scorer: TextScorer) -> AgreementResult:
    """Compare rounds per item, attach metrics, and split released samples from items for review.

    Args:
        samples: every ingested round.
        quality: the recipe's thresholds.
        scorer: BERTScore for captions and answers (only called when two rounds have some).

    Returns:
        Released samples (one per item) with metrics, items for review, and counts.
    """
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[item_key(sample)].append(sample)
    ordered = {key: sorted(group, key=lambda s: (not s.gold, s.round, s.sample_id)) for key, group in groups.items()}
    text_scores = _score_texts([rounds for rounds in ordered.values() if len(rounds) > 1 and not rounds[0].gold], scorer)
    result = AgreementResult()
    for key in sorted(ordered):
        rounds = ordered[key]
        first = rounds[0]
        if first.gold:
            result.resolved_by_gold += 1
            result.superseded += len(rounds) - 1
            result.released.append(first)
            continue
        metrics = _metrics(first, rounds[1] if len(rounds) > 1 else None, text_scores.get(key))
        measured = first.model_copy(update={"metrics": metrics})
        below = below_thresholds(metrics, quality, "per_sample", first.task_type)
        if below:
            result.review.append(ReviewItem(item_id=key, rounds=rounds, metrics=metrics, below=below))
        else:
            result.superseded += len(rounds) - 1
            result.released.append(measured)
    log.info("agreement: %s", result.stats())
    return result


def below_thresholds(
    metrics: Metrics, quality: QualityConfig, level: str, task_type: str
) -> dict[str, tuple[float, float]]:
    """Each measured metric under its threshold, as ``{metric: (value, threshold)}``."""
    thresholds = quality.thresholds(level, task_type)  # type: ignore[arg-type]
    below = {}
    for name in METRICS:
        value, threshold = getattr(metrics, name), getattr(thresholds, name)
        if value is not None and threshold is not None and value < threshold:
            below[name] = (value, threshold)
    return below


def _metrics(first: Sample, second: Sample | None, text_score: tuple[float, float, float] | None) -> Metrics:
    screen_texts = [line.text for line in first.ocr_lines]
    # Actions are measured on the screenshot (the first image); a sample without actions (a video-only one too) has none to measure.
    completeness = (
        action_completeness(
            list(first.actions),
            first.images[0].width,
            first.images[0].height,
            screen_texts,
            list(second.actions) if second else None,
        )
        if first.actions
        else None
    )
    if second is None:
        return Metrics(action_completeness=completeness, rounds_compared=1)
    has_boxes = first.boxes or second.boxes
    has_lines = first.ocr_lines or second.ocr_lines
    precision, recall, f1 = text_score if text_score else (None, None, None)
    return Metrics(
        iou_agreement=iou_agreement(list(first.boxes), list(second.boxes)) if has_boxes else None,
        ocr_accuracy=sample_ocr_accuracy(list(first.ocr_lines), list(second.ocr_lines)) if has_lines else None,
        action_completeness=completeness,
        bertscore_precision=precision,
        bertscore_recall=recall,
        bertscore_f1=f1,
        rounds_compared=2,
    )


def answer_pairs(first: Sample, second: Sample) -> list[tuple[str, str]]:
    """Assistant turns of two rounds, paired in order (round 2 is the candidate, round 1 the reference)."""
    answers = [[turn.content for turn in sample.conversations if turn.role == "assistant"] for sample in (first, second)]
    return [(candidate, reference) for reference, candidate in zip(answers[0], answers[1], strict=False)]


def _score_texts(items: list[list[Sample]], scorer: TextScorer) -> dict[str, tuple[float, float, float]]:
    """Mean P/R/F1 of each item's answer pairs, scored in one batched call; CJK text is left unscored."""
    pairs_by_item: dict[str, list[tuple[str, str]]] = {}
    for rounds in items:
        pairs = answer_pairs(rounds[0], rounds[1])
        pairs = [pair for pair in pairs if scorer.is_meaningful(pair[0]) and scorer.is_meaningful(pair[1])]
        if pairs:
            pairs_by_item[item_key(rounds[0])] = pairs
    if not pairs_by_item:
        return {}
    flat = [pair for pairs in pairs_by_item.values() for pair in pairs]
    scores = iter(scorer.score([candidate for candidate, _ in flat], [reference for _, reference in flat]))
    means = {}
    for key, pairs in pairs_by_item.items():
        item_scores = [next(scores) for _ in pairs]
        means[key] = tuple(sum(values) / len(values) for values in zip(*item_scores, strict=True))
    return means  # type: ignore[return-value]
