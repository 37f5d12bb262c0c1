"""OCR agreement: character-level accuracy ``1 - CER`` between a reference and a hypothesis transcription.

The distance is Levenshtein over Unicode code points (insertions, deletions and
substitutions each cost 1; ``rapidfuzz.distance.Levenshtein``), so Chinese and
Japanese are scored per character, as ``jiwer.cer`` does. No normalisation is
applied: case, punctuation and whitespace differences are errors, because the
transcription is what a model will be trained to produce.

``accuracy = 1 - distance / len(reference)``. A hypothesis with many insertions
can make the distance larger than the reference (``jiwer.cer`` then exceeds 1);
the accuracy is clamped at 0 so that it stays a share in ``[0, 1]``.

For a sample, reference and hypothesis lines are paired first by box overlap
(Hungarian matching on IoU, only pairs with IoU > 0, only on the same image),
then the lines left on each side are paired in reading order. An unpaired
reference line counts all of its characters as deletions, an unpaired hypothesis
line all of its characters as insertions, and the sample's accuracy is
``1 - total distance / total reference characters``.

``word_f1`` is the word-level view (closed-loop evaluation's OCR readability): bags of words, so a
read-back that finds the right words in another order still scores, and one that reads nothing scores 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein
from scipy.optimize import linear_sum_assignment

from vlforge.quality.metrics.iou import iou_matrix
from vlforge.records import OcrLine


def char_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between two strings, counted in characters (code points).

    Args:
        reference: the reference text.
        hypothesis: the text to compare with it.

    Returns:
        The least number of single-character insertions, deletions and substitutions.
    """
    return int(Levenshtein.distance(reference, hypothesis))


def _accuracy(distance: int, reference_chars: int) -> float:
    if reference_chars == 0:
        return 1.0 if distance == 0 else 0.0
    return max(0.0, 1.0 - distance / reference_chars)


def ocr_accuracy(reference: str, hypothesis: str) -> float:
    """Character accuracy of a transcription: ``max(0, 1 - Levenshtein / len(reference))``.

    Equal to ``1 - jiwer.cer(reference, hypothesis)`` wherever that is at least 0
    and the reference has no leading or trailing whitespace (jiwer strips it).

    Args:
        reference: the reference transcription (round 1).
        hypothesis: the transcription to score (round 2).

    Returns:
        Accuracy in ``[0, 1]``. An empty reference gives 1.0 for an empty
        hypothesis and 0.0 otherwise (``jiwer.cer`` raises there).
    """
    return _accuracy(char_distance(reference, hypothesis), len(reference))


def reading_order(lines: Sequence[OcrLine], indices: Sequence[int]) -> list[int]:
    """``indices`` of ``lines`` in reading order: by image, then top to bottom, then left to right.

    Lines are ordered by ``(image_index, y1, x1)`` of their boxes. When any of
    the given lines has no box, the annotation order is kept for all of them:
    without positions the order in which the annotator wrote the lines is the
    only reading order there is.

    Args:
        lines: all lines of one round.
        indices: which of them to order.

    Returns:
        The same indices, ordered.
    """
    keys = []
    for i in indices:
        box = lines[i].box
        if box is None:
            return sorted(indices)
        keys.append((box.image_index, box.y1, box.x1, i))
    return [key[-1] for key in sorted(keys)]


def pair_lines(
    ref_lines: Sequence[OcrLine], hyp_lines: Sequence[OcrLine]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair reference and hypothesis lines: by box overlap first, then in reading order.

    Args:
        ref_lines: the reference round's lines.
        hyp_lines: the other round's lines.

    Returns:
        ``(pairs, unpaired_ref, unpaired_hyp)``: ``(ref_index, hyp_index)`` pairs,
        and the indices of the lines left over on each side (at most one side
        has any).
    """
    ref_boxed = [(i, line.box) for i, line in enumerate(ref_lines) if line.box is not None]
    hyp_boxed = [(j, line.box) for j, line in enumerate(hyp_lines) if line.box is not None]
    pairs: list[tuple[int, int]] = []
    if ref_boxed and hyp_boxed:
        overlap = iou_matrix([box for _, box in ref_boxed], [box for _, box in hyp_boxed])
        same_image = np.array([[a.image_index == b.image_index for _, b in hyp_boxed] for _, a in ref_boxed])
        overlap = np.where(same_image, overlap, 0.0)
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        pairs = [(ref_boxed[r][0], hyp_boxed[c][0]) for r, c in zip(rows, cols, strict=True) if overlap[r, c] > 0]
    paired_ref = {i for i, _ in pairs}
    paired_hyp = {j for _, j in pairs}
    rest_ref = reading_order(ref_lines, [i for i in range(len(ref_lines)) if i not in paired_ref])
    rest_hyp = reading_order(hyp_lines, [j for j in range(len(hyp_lines)) if j not in paired_hyp])
    pairs += list(zip(rest_ref, rest_hyp, strict=False))
    n = min(len(rest_ref), len(rest_hyp))
    return sorted(pairs), rest_ref[n:], rest_hyp[n:]


def sample_ocr_accuracy(ref_lines: list[OcrLine], hyp_lines: list[OcrLine]) -> float | None:
    """Character accuracy of one round's transcription of a sample against another's.

    ``max(0, 1 - total distance / total reference characters)`` over paired lines
    (see ``pair_lines``); an unpaired reference line adds its length as
    deletions, an unpaired hypothesis line its length as insertions.

    Args:
        ref_lines: the reference round's lines (round 1).
        hyp_lines: the other round's lines (round 2).

    Returns:
        Accuracy in ``[0, 1]``; ``None`` when neither round has a line. When the
        reference has no characters at all: 1.0 if the hypothesis has none
        either, else 0.0.
    """
    if not ref_lines and not hyp_lines:
        return None
    pairs, unpaired_ref, unpaired_hyp = pair_lines(ref_lines, hyp_lines)
    distance = sum(char_distance(ref_lines[i].text, hyp_lines[j].text) for i, j in pairs)
    distance += sum(len(ref_lines[i].text) for i in unpaired_ref)
    distance += sum(len(hyp_lines[j].text) for j in unpaired_hyp)
    return _accuracy(distance, sum(len(line.text) for line in ref_lines))


# One CJK character is one word: Chinese and Japanese write no spaces between words.
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


@dataclass(frozen=True)
class WordScores:
    """Word-level precision, recall and F1 of a read-back against a reference (bags of words)."""

    precision: float
    recall: float
    f1: float


def ocr_words(text: str) -> list[str]:
    """The words of ``text``: runs of non-space characters, each CJK character a word of its own."""
    return _WORD.findall(text)


def word_f1(reference: str, hypothesis: str) -> WordScores:
    """Word-level F1 of a transcription: words matched as multisets, order ignored, case and punctuation kept.

    ``precision = matched / hypothesis words`` and ``recall = matched / reference words``, where
    ``matched`` counts each word as often as it occurs on both sides; an empty side has precision
    (recall) 1.0, and F1 is 0.0 when both are 0.

    Args:
        reference: the ground-truth text (e.g. a sample's OCR lines joined).
        hypothesis: what an OCR engine or a model read.

    Returns:
        Precision, recall and F1 in ``[0, 1]``.
    """
    ref, hyp = Counter(ocr_words(reference)), Counter(ocr_words(hypothesis))
    matched = sum((ref & hyp).values())
    precision = matched / sum(hyp.values()) if hyp else 1.0
    recall = matched / sum(ref.values()) if ref else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return WordScores(precision, recall, f1)
