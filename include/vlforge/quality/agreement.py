"""Agreement between independent annotation rounds of the same item, and what it decides.

For every item (a Label Studio task) the first two rounds are compared: box IoU
(one-to-one per label), OCR accuracy (round 1 as the reference), GUI action
completeness, and BERTScore between their captions and answers. The numbers are
stored on the released sample (``Sample.metrics``), rounded by
``vlforge.numerics.stored_metric`` so that they are the same on every CPU, and
gates, reports and dashboards read the same values. An item below a per-sample threshold is held
back for review; an item with an adjudicated (gold) round releases that round.

BERTScore is computed by the encoder that covers the answers' language
(``QualityConfig.encoder_for``) and held to that encoder's thresholds; the
agreement table names the language and the encoder of each item (``None`` where
no configured encoder covers the language: the item is unscored).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from vlforge.config import QualityConfig
from vlforge.numerics import stored_metric
from vlforge.quality.config import TextEncoderConfig
from vlforge.quality.metrics.actions import action_completeness
from vlforge.quality.metrics.bertscore import Scores, text_language
from vlforge.quality.metrics.iou import iou_agreement
from vlforge.quality.metrics.ocr import sample_ocr_accuracy
from vlforge.records import Metrics, Sample

log = logging.getLogger(__name__)
METRICS = ("iou_agreement", "ocr_accuracy", "action_completeness", "bertscore_f1")
METRIC_COLUMNS = (*METRICS, "bertscore_precision", "bertscore_recall")
TEXT_COLUMNS = ("text_language", "bertscore_encoder")


class TextScorer(Protocol):
    """BERTScore with a given encoder (``vlforge.quality.metrics.bertscore.EncoderScorers``)."""

    def score(self, encoder: TextEncoderConfig, candidates: list[str], references: list[str]) -> list[Scores]: ...


@dataclass(frozen=True)
class TextScore:
    """An item's answers: their language, the encoder that scored them (None: unscored) and its mean P/R/F1."""

    language: str | None
    encoder: str | None = None
    scores: Scores | None = None


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
    text_scores: dict[str, TextScore] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per item with its status and metrics (NaN where not measured): what gates and reports read.

        ``text_language`` and ``bertscore_encoder`` say, for items whose rounds both have answers,
        which language they are in and which encoder scored them (None: no encoder covers it).
        """
        rows = [(item_key(s), s.task_type, "released", s.metrics) for s in self.released]
        rows += [(item.item_id, item.rounds[0].task_type, "review", item.metrics) for item in self.review]
        unmeasured = TextScore(language=None)
        return pd.DataFrame(
            [
                {"item_id": key, "task_type": task_type, "status": status, "rounds_compared": metrics.rounds_compared}
                | {name: getattr(metrics, name) for name in METRIC_COLUMNS}
                | {
                    "text_language": self.text_scores.get(key, unmeasured).language,
                    "bertscore_encoder": self.text_scores.get(key, unmeasured).encoder,
                }
                for key, task_type, status, metrics in rows
            ],
            columns=["item_id", "task_type", "status", "rounds_compared", *METRIC_COLUMNS, *TEXT_COLUMNS],
        ).astype({name: "float64" for name in METRIC_COLUMNS} | {name: "object" for name in TEXT_COLUMNS})

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
        quality: the recipe's thresholds and text encoders.
        scorer: BERTScore for captions and answers (only called when two rounds have some an encoder covers).

    Returns:
        Released samples (one per item) with metrics, items for review, and counts.
    """
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[item_key(sample)].append(sample)
    ordered = {key: sorted(group, key=lambda s: (not s.gold, s.round, s.sample_id)) for key, group in groups.items()}
    text_scores = _score_texts(
        [rounds for rounds in ordered.values() if len(rounds) > 1 and not rounds[0].gold], quality, scorer
    )
    result = AgreementResult(text_scores=text_scores)
    for key in sorted(ordered):
        rounds = ordered[key]
        first = rounds[0]
        if first.gold:
            result.resolved_by_gold += 1
            result.superseded += len(rounds) - 1
            result.released.append(first)
            continue
        text = text_scores.get(key)
        metrics = _metrics(first, rounds[1] if len(rounds) > 1 else None, text.scores if text else None)
        measured = first.model_copy(update={"metrics": metrics})
        below = below_thresholds(metrics, quality, "per_sample", first.task_type, text.encoder if text else None)
        if below:
            result.review.append(ReviewItem(item_id=key, rounds=rounds, metrics=metrics, below=below))
        else:
            result.superseded += len(rounds) - 1
            result.released.append(measured)
    log.info("agreement: %s", result.stats())
    return result


def below_thresholds(
    metrics: Metrics, quality: QualityConfig, level: str, task_type: str, encoder: str | None = None
) -> dict[str, tuple[float, float]]:
    """Each measured metric under its threshold, as ``{metric: (value, threshold)}``.

    ``encoder`` is the encoder that computed ``bertscore_f1``: its thresholds apply.
    """
    thresholds = quality.thresholds(level, task_type).model_copy(  # type: ignore[arg-type]
        update={"bertscore_f1": quality.bertscore_threshold(level, task_type, encoder)}  # type: ignore[arg-type]
    )
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
        return Metrics(action_completeness=stored_metric(completeness), rounds_compared=1)
    has_boxes = first.boxes or second.boxes
    has_lines = first.ocr_lines or second.ocr_lines
    precision, recall, f1 = text_score if text_score else (None, None, None)
    return Metrics(
        iou_agreement=stored_metric(iou_agreement(list(first.boxes), list(second.boxes)) if has_boxes else None),
        ocr_accuracy=stored_metric(sample_ocr_accuracy(list(first.ocr_lines), list(second.ocr_lines)) if has_lines else None),
        action_completeness=stored_metric(completeness),
        bertscore_precision=stored_metric(precision),
        bertscore_recall=stored_metric(recall),
        bertscore_f1=stored_metric(f1),
        rounds_compared=2,
    )


def answer_pairs(first: Sample, second: Sample) -> list[tuple[str, str]]:
    """Assistant turns of two rounds, paired in order (round 2 is the candidate, round 1 the reference)."""
    answers = [[turn.content for turn in sample.conversations if turn.role == "assistant"] for sample in (first, second)]
    return [(candidate, reference) for reference, candidate in zip(answers[0], answers[1], strict=False)]


def pair_language(candidate: str, reference: str) -> str | None:
    """The language of a pair of answers: both texts' ``text_language`` when they agree, else None."""
    language = text_language(candidate)
    return language if language == text_language(reference) else None


def _score_texts(items: list[list[Sample]], quality: QualityConfig, scorer: TextScorer) -> dict[str, TextScore]:
    """Each item's answers: language, encoder and mean P/R/F1, one batched call per encoder.

    An item's language is that of its first answer pair with a language both texts share; only
    its pairs in that language are scored (one encoder's scale per item). Items whose language no
    encoder covers, or whose pairs share none, are returned unscored.
    """
    routed: dict[str, tuple[str | None, TextEncoderConfig | None, list[tuple[str, str]]]] = {}
    for rounds in items:
        pairs = answer_pairs(rounds[0], rounds[1])
        if not pairs:
            continue
        languages = [pair_language(*pair) for pair in pairs]
        language = next((found for found in languages if found is not None), None)
        same = [pair for pair, found in zip(pairs, languages, strict=True) if found == language and language]
        routed[item_key(rounds[0])] = (language, quality.encoder_for(language), same)
    results = {key: TextScore(language) for key, (language, _, _) in routed.items()}
    for encoder in quality.text_encoders:
        pairs_by_item = {key: pairs for key, (_, used, pairs) in routed.items() if used and used.name == encoder.name and pairs}
        if not pairs_by_item:
            continue
        flat = [pair for pairs in pairs_by_item.values() for pair in pairs]
        scores = iter(scorer.score(encoder, [candidate for candidate, _ in flat], [reference for _, reference in flat]))
        for key, pairs in pairs_by_item.items():
            item_scores = [next(scores) for _ in pairs]
            mean = tuple(sum(values) / len(values) for values in zip(*item_scores, strict=True))
            results[key] = TextScore(results[key].language, encoder.name, mean)  # type: ignore[arg-type]
    return results
