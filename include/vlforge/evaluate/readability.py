"""OCR readability of a release: Tesseract reads every OCR sample's image back against its ground-truth lines.

Per sample (``read_shard``): ``ocr_accuracy``, vlforge's character accuracy of the read-back
(``synth.documents.checks.readback_accuracy``, the synthetic pages' own read-back check: each word goes
to the line whose box holds it), and ``ocr_word_f1``, word-level F1 of everything read against every
line (``quality.metrics.ocr.word_f1``). The merge (``readability_results``) averages them over ``all``,
each origin and each degradation level (how many image ops made the copy: the low-quality subset is
``level>=1``), and compares every degradation op's copies with their own parents (``flags.compare_copies``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vlforge.evaluate.flags import Flag, compare_copies, subset_means
from vlforge.evaluate.origins import Origin
from vlforge.evaluate.results import EvaluationRow
from vlforge.evaluate.shards import EvaluationShard, shard_samples, write_shard_results
from vlforge.layout import EvaluationDir, ReleaseDir
from vlforge.quality.metrics.ocr import word_f1
from vlforge.records import Sample
from vlforge.synth.documents import TESSERACT_LANGUAGES
from vlforge.synth.documents.checks import PageReader, ReferenceLine, readback_accuracy

EVALUATOR = "ocr_readability"
METRICS = ("ocr_accuracy", "ocr_word_f1")


def readable(sample: Sample) -> bool:
    """Whether a sample takes part: an OCR sample with an image and at least one boxed line on its first image."""
    return sample.task_type == "ocr" and bool(sample.images) and bool(_reference(sample))


def _reference(sample: Sample) -> list[ReferenceLine]:
    return [
        ReferenceLine(line.text, (line.box.x1, line.box.y1, line.box.x2, line.box.y2))
        for line in sample.ocr_lines
        if line.box is not None and line.box.image_index == 0
    ]


def languages(sample: Sample) -> tuple[str, ...]:
    """The Tesseract languages for a sample's lines (English for a language vlforge has no pack for)."""
    found: list[str] = []
    for line in sample.ocr_lines:
        found += TESSERACT_LANGUAGES.get(line.language, ("eng",))
    return tuple(dict.fromkeys(found or ["eng"]))


def read_sample(release: ReleaseDir, sample: Sample, read: PageReader) -> dict[str, object]:
    """One sample's read-back: accuracy, word F1 (with precision and recall) and the words read."""
    with Image.open(release.images / sample.images[0].file_name) as image:
        pixels = np.asarray(image.convert("RGB"))
    reference = _reference(sample)
    words = read(pixels, languages(sample), sample.sample_id)
    scores = word_f1(" ".join(line.text for line in reference), " ".join(word.text for word in words))
    return {
        "sample_id": sample.sample_id,
        "ocr_accuracy": readback_accuracy(reference, words),
        "ocr_word_f1": scores.f1,
        "ocr_word_precision": scores.precision,
        "ocr_word_recall": scores.recall,
        "words_read": len(words),
    }


def read_shard(release: ReleaseDir, folder: EvaluationDir, shard: EvaluationShard, read: PageReader) -> int:
    """Read back every OCR sample of a shard and write the per-sample rows; returns how many were read."""
    rows = [read_sample(release, sample, read) for sample in shard_samples(release, shard) if readable(sample)]
    write_shard_results(folder, shard, rows)
    return len(rows)


@dataclass(frozen=True)
class ReadabilityResult:
    rows: list[EvaluationRow]
    flags: list[Flag]


def readability_results(
    per_sample: Sequence[dict[str, object]],
    origins: dict[str, Origin],
    *,
    model: str,
    tolerance: dict[str, float],
    min_pairs: int,
    examples: int,
) -> ReadabilityResult:
    """Mean accuracy and word F1 per subset and per degradation op, and the ops whose copies lose too much.

    Args:
        per_sample: ``read_sample`` rows.
        origins: every sample's origin.
        model: the OCR engine's name (``tesseract 5.3.0``).
        tolerance: the flag tolerance per metric; a metric without one (nor ``"*"``) is not judged.
        min_pairs, examples: as for ``flags.compare_copies``.
    """
    rows: list[EvaluationRow] = []
    flags: list[Flag] = []
    for metric in METRICS:
        values = {str(row["sample_id"]): float(row[metric]) for row in per_sample}  # type: ignore[arg-type]
        rows += subset_means(values, origins, evaluator=EVALUATOR, model=model, metric=metric, examples=examples)
        found = compare_copies(values, origins, evaluator=EVALUATOR, model=model, metric=metric,
                               tolerance=tolerance.get(metric, tolerance.get("*")), min_pairs=min_pairs, examples=examples)
        rows += found.rows
        flags += found.flags
    return ReadabilityResult(rows, flags)
