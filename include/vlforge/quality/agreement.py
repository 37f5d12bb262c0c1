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
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vlforge.config import QualityConfig
from vlforge.numerics import stored_metric
from vlforge.quality.config import TextEncoderConfig
from vlforge.quality.metrics.actions import action_completeness
from vlforge.quality.metrics.bertscore import Scores, text_language
from vlforge.quality.metrics.iou import iou_agreement
from vlforge.quality.metrics.ocr import sample_ocr_accuracy
from vlforge.records import Metrics, Sample
from vlforge.store import atomic_open

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
        Released items come first, then items in review, each in item order.
        """
        return agreement_frame(self.released_rows() + self.review_rows())

    def released_rows(self) -> list[dict[str, object]]:
        """The agreement table's rows of the released items (``table``)."""
        return [self._row(item_key(sample), sample.task_type, "released", sample.metrics) for sample in self.released]

    def review_rows(self) -> list[dict[str, object]]:
        """The agreement table's rows of the items in review (``table``)."""
        return [self._row(item.item_id, item.rounds[0].task_type, "review", item.metrics) for item in self.review]

    def _row(self, key: str, task_type: str, status: str, metrics: Metrics) -> dict[str, object]:
        text = self.text_scores.get(key, TextScore(language=None))
        return (
            {"item_id": key, "task_type": task_type, "status": status, "rounds_compared": metrics.rounds_compared}
            | {name: getattr(metrics, name) for name in METRIC_COLUMNS}
            | {"text_language": text.language, "bertscore_encoder": text.encoder}
        )

    def stats(self) -> dict[str, int]:
        return {
            "items_released": len(self.released),
            "items_in_review": len(self.review),
            "rounds_superseded": self.superseded,
            "rounds_in_review": sum(len(item.rounds) for item in self.review),
            "items_resolved_by_gold": self.resolved_by_gold,
        }


def agreement_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The agreement table of ``rows`` (``AgreementResult.table``), with its column order and types."""
    columns = ["item_id", "task_type", "status", "rounds_compared", *METRIC_COLUMNS, *TEXT_COLUMNS]
    types = {name: "float64" for name in METRIC_COLUMNS} | {name: "object" for name in TEXT_COLUMNS}
    return pd.DataFrame(rows, columns=columns).astype(types)


def item_key(sample: Sample) -> str:
    return sample.item_id or sample.sample_id


def item_keys(table: pa.Table) -> pa.Array:
    """``item_key`` of each row of a manifest table that has the ``item_id`` and ``sample_id`` columns."""
    item_ids = table.column("item_id")
    keys = pc.if_else(pc.or_kleene(pc.is_null(item_ids), pc.equal(item_ids, "")), table.column("sample_id"), item_ids)
    return keys.combine_chunks()


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


class AgreementTable:
    """The agreement table of many ``AgreementResult`` (one per chunk of items), written as the table of their union would be.

    ``write`` writes the bytes that ``AgreementResult.table().to_parquet(index=False)`` writes for one result holding every
    chunk's items: released items first, then items in review, each in the order added. Rows are kept as Arrow tables
    (a hundred bytes or so a row, not a pandas row of Python objects) because pandas writes every row into one row group.
    """

    def __init__(self) -> None:
        self._released: list[pa.Table] = []
        self._review: list[pa.Table] = []
        # Rows that give the whole table's column types: the first row, and the first with each text column set
        # (a text column no row sets is stored as Arrow's null type, as pandas stores an object column of None).
        self._examples: dict[str, dict[str, object]] = {}

    def add(self, result: AgreementResult) -> None:
        for parts, rows in ((self._released, result.released_rows()), (self._review, result.review_rows())):
            if not rows:
                continue
            parts.append(pa.Table.from_pandas(agreement_frame(rows), preserve_index=False))
            for row in rows:
                self._examples.setdefault("first", row)
                for name in TEXT_COLUMNS:
                    if row[name] is not None:
                        self._examples.setdefault(name, row)

    def write(self, path: Path) -> int:
        """Write the table to ``path`` atomically; returns its row count."""
        schema = pa.Table.from_pandas(agreement_frame(list(self._examples.values())), preserve_index=False).schema
        parts = [part.cast(schema) for part in self._released + self._review] or [schema.empty_table()]
        table = pa.concat_tables(parts).combine_chunks()
        with atomic_open(path) as handle:
            pq.write_table(table, handle, compression="snappy")
        return table.num_rows
