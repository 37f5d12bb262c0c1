"""Word-level F1 of OCR read-backs, on answers with known scores."""

from __future__ import annotations

import pytest

from vlforge.quality.metrics.ocr import ocr_words, word_f1


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("TOTAL 12.50 CASH", "TOTAL 12.50 CASH", (1.0, 1.0, 1.0)),
        ("TOTAL 12.50 CASH", "CASH TOTAL 12.50", (1.0, 1.0, 1.0)),  # order ignored
        ("TOTAL 12.50 CASH", "TOTAL 12.5O", (0.5, 1 / 3, 0.4)),  # one of two read words right, one of three found
        ("TOTAL 12.50 CASH", "", (1.0, 0.0, 0.0)),  # nothing read
        ("", "", (1.0, 1.0, 1.0)),
        ("a a b", "a b b", (2 / 3, 2 / 3, 2 / 3)),  # multisets: each word as often as on both sides
        ("总计 12", "总 计 12", (1.0, 1.0, 1.0)),  # one CJK character is one word, spaces or not
    ],
)
def test_word_f1(reference: str, hypothesis: str, expected: tuple[float, float, float]) -> None:
    scores = word_f1(reference, hypothesis)
    assert (scores.precision, scores.recall, scores.f1) == pytest.approx(expected)


def test_cjk_characters_are_words() -> None:
    assert ocr_words("合计: 12 元") == ["合", "计", ":", "12", "元"]
