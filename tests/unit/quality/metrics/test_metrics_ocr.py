"""Character accuracy of OCR transcriptions: equal to 1 - jiwer's CER, RapidFuzz's distances and a plain DP."""

from __future__ import annotations

import random

import jiwer
import pytest

from vlforge.quality.metrics.ocr import char_distance, ocr_accuracy, pair_lines, sample_ocr_accuracy
from vlforge.records import Box, OcrLine

# (reference, hypothesis, CER) from jitsi/jiwer tests/test_cer.py, and CJK pairs scored per character.
CER_CASES = [
    ("This is a test", "This is a test", 0 / 14),
    ("This is a test", "", 14 / 14),
    ("This is a test", "This test", 5 / 14),
    ("X", "X", 0.0),
    ("X Y X", "X Z", 3 / 5),
    ("X", "Y", 1.0),
    ("我们去公园", "我门去公园", 1 / 5),
    ("東京に行きます", "東京へ行きます", 1 / 7),
    ("お茶を飲む", "お茶飲む", 1 / 5),
    ("价格：12.50元", "价格:12.5元", 2 / 9),
]

# (a, b, Levenshtein distance) from rapidfuzz/RapidFuzz tests/distance/test_Levenshtein.py.
RAPIDFUZZ_CASES = [
    ("", "", 0),
    ("aaaa", "aaaa", 0),
    ("ÁÄ", "ABCD", 4),
    ("ÁÄ", "ÁÄ", 0),
    ("qabxcd", "abycdf", 3),
    ("Lorem ipsum.", "XYZLorem ABC iPsum", 9),
    ("0", "101", 2),
    ("0", "", 1),
    ("00", "0", 1),
]


def _levenshtein(a: str, b: str) -> int:
    """Textbook dynamic programme, independent of RapidFuzz (which jiwer also uses)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@pytest.mark.parametrize(("reference", "hypothesis", "cer"), CER_CASES)
def test_accuracy_is_one_minus_cer(reference: str, hypothesis: str, cer: float) -> None:
    assert ocr_accuracy(reference, hypothesis) == pytest.approx(1 - cer, abs=1e-12)
    assert ocr_accuracy(reference, hypothesis) == pytest.approx(1 - jiwer.cer(reference, hypothesis), abs=1e-12)


def test_chinese_is_scored_per_character() -> None:
    assert ocr_accuracy("我们去公园", "我门去公园") == pytest.approx(0.8)


@pytest.mark.parametrize(("a", "b", "distance"), RAPIDFUZZ_CASES)
def test_distance_matches_rapidfuzz_vectors(a: str, b: str, distance: int) -> None:
    assert char_distance(a, b) == distance == _levenshtein(a, b)


def test_distance_matches_plain_dp_on_random_strings() -> None:
    rng = random.Random(3)
    alphabet = "abc 我们公园"
    for _ in range(200):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        assert char_distance(a, b) == _levenshtein(a, b), (a, b)
        if a and a == a.strip() and b == b.strip():  # jiwer strips outer whitespace; vlforge counts it
            assert ocr_accuracy(a, b) == pytest.approx(max(0.0, 1 - jiwer.cer(a, b)), abs=1e-12), (a, b)


def test_accuracy_is_clamped_at_zero_where_cer_exceeds_one() -> None:
    assert jiwer.cer("X", "X X Y Y") == pytest.approx(6.0)  # jiwer's known value
    assert ocr_accuracy("X", "X X Y Y") == 0.0
    assert ocr_accuracy("X", "Y Z") == 0.0


def test_empty_reference() -> None:
    assert ocr_accuracy("", "") == 1.0
    assert ocr_accuracy("", "anything") == 0.0
    assert ocr_accuracy("abc", "") == 0.0


def _line(text: str, x1: float | None = None, y1: float = 0, x2: float = 0, y2: float = 0) -> OcrLine:
    box = Box(x1=x1, y1=y1, x2=x2, y2=y2) if x1 is not None else None
    return OcrLine(text=text, box=box)


def test_sample_none_when_both_empty_and_zero_when_one_sided() -> None:
    assert sample_ocr_accuracy([], []) is None
    assert sample_ocr_accuracy([_line("EXIT")], []) == 0.0
    assert sample_ocr_accuracy([], [_line("EXIT")]) == 0.0


def test_lines_pair_by_box_overlap_whatever_their_order() -> None:
    ref = [_line("NOTICE", 0, 0, 100, 20), _line("DOUBLE PARKING", 0, 30, 140, 50)]
    hyp = [_line("DOUBLE PARKlNG", 2, 31, 141, 50), _line("NOTICE", 1, 0, 99, 21)]
    pairs, unpaired_ref, unpaired_hyp = pair_lines(ref, hyp)
    assert pairs == [(0, 1), (1, 0)] and unpaired_ref == [] and unpaired_hyp == []
    assert sample_ocr_accuracy(ref, hyp) == pytest.approx(1 - 1 / 20)


def test_lines_without_overlap_pair_in_reading_order() -> None:
    ref = [_line("second", 0, 50, 50, 60), _line("first", 0, 0, 50, 10)]
    hyp = [_line("first", 300, 0, 350, 10), _line("secnd", 300, 50, 350, 60)]  # shifted: no overlap at all
    pairs, _, _ = pair_lines(ref, hyp)
    assert pairs == [(0, 1), (1, 0)]
    assert sample_ocr_accuracy(ref, hyp) == pytest.approx(1 - 1 / 11)


def test_lines_without_boxes_pair_in_annotation_order() -> None:
    ref = [_line("0123456789"), _line("abc")]
    hyp = [_line("0123456780"), _line("abd")]
    assert sample_ocr_accuracy(ref, hyp) == pytest.approx(1 - 2 / 13)


def test_unpaired_lines_count_their_length() -> None:
    ref = [_line("STOP", 0, 0, 40, 10), _line("AHEAD", 0, 20, 50, 30)]
    assert sample_ocr_accuracy(ref, ref[:1]) == pytest.approx(1 - 5 / 9)  # a missed line: 5 deletions
    extra = [*ref, _line("NO", 0, 40, 20, 50)]
    assert sample_ocr_accuracy(ref, extra) == pytest.approx(1 - 2 / 9)  # an invented line: 2 insertions


def test_sample_with_only_empty_reference_text() -> None:
    assert sample_ocr_accuracy([_line("")], [_line("")]) == 1.0
    assert sample_ocr_accuracy([_line("")], [_line("x")]) == 0.0
