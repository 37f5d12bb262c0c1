"""Pure parts of the synth stage: lines from word rectangles, read-back accuracy, target picks."""

from __future__ import annotations

import pytest

from vlforge.preannotate.tesseract import RecognisedWord
from vlforge.synth.documents.checks import ReferenceLine, readback_accuracy
from vlforge.synth.documents.render import group_lines, split_words
from vlforge.synth.gui.actions import distinct_picks


def _word(text: str, rect: list[float], block: int = 0, space: bool = True, *more: list[float]) -> dict:
    return {"text": text, "block": block, "space_before": space, "cut": False, "rects": [rect, *more]}


def test_words_form_lines_by_block_wrap_and_gap() -> None:
    words, lines = group_lines([
        _word("Total", [10, 10, 60, 30], 0, False),
        _word("$5.00", [200, 10, 260, 30], 0, False),  # flex row: no source space, a gap of 140 px > 0.3 * 20
        _word("总", [10, 40, 30, 60], 1, False),
        _word("计", [30, 40, 50, 60], 1, False),  # touching CJK: no space
        _word("next", [12, 70, 50, 90], 1, True),  # starts left of the previous end: a new line
        _word("gone", [0, 0, 0, 0], 1, True) | {"rects": []},  # not laid out: left out
    ])
    assert [line.text for line in lines] == ["Total $5.00", "总计", "next"]
    assert [line.box for line in lines] == [(10, 10, 260, 30), (10, 40, 50, 60), (12, 70, 50, 90)]
    assert [word.line for word in words] == [0, 0, 1, 1, 2]
    assert lines[1].words == (2, 3)


def test_group_lines_of_nothing() -> None:
    assert group_lines([]) == ((), ())


def test_a_word_in_two_pieces_is_reported() -> None:
    words, _ = group_lines([_word("Interna", [10, 10, 90, 30], 0, False, [10, 40, 60, 60])])
    assert words[0].pieces == 2 and words[0].box == (10, 10, 90, 60)
    assert split_words(words) == ["word 'Interna' is split across 2 lines or boxes"]


def _recognised(text: str, box: tuple[int, int, int, int]) -> RecognisedWord:
    return RecognisedWord(text, 90.0, box, ("1", "1", "1", "1"))


def test_readback_pairs_words_to_lines_by_centre_and_ignores_spacing() -> None:
    lines = [ReferenceLine("Total $5.00", (10, 10, 260, 30)), ReferenceLine("总计 ¥3", (10, 40, 120, 60))]
    words = [
        _recognised("$5.00", (200, 10, 260, 30)),  # right to left order in the output: sorted by x
        _recognised("Total", (10, 10, 60, 30)),
        _recognised("总计¥3", (10, 40, 110, 60)),
    ]
    assert readback_accuracy(lines, words) == 1.0
    # one substitution (S -> 5) and a stray word of 3 characters outside every line: 4 errors in 14
    noisy = [_recognised("Tota1", (10, 10, 60, 30)), _recognised("$5.00", (200, 10, 260, 30)),
             _recognised("总计¥3", (10, 40, 110, 60)), _recognised("abc", (400, 200, 450, 220))]
    assert readback_accuracy(lines, noisy) == pytest.approx(1 - 4 / 14)
    assert readback_accuracy(lines, []) == 0.0
    assert readback_accuracy([], []) == 1.0


def test_distinct_picks_never_repeat_a_target() -> None:
    assert distinct_picks([0.1, 0.15, 0.5, 0.9, 0.55], 4, 3) == [0, 2, 3]
    assert distinct_picks([0.1, 0.2], 1, 4) == [0]


def test_mix_by_task_type_counts_real_and_synthetic() -> None:
    from vlforge.records import Sample, Source
    from vlforge.synth.report import mix_by_task_type

    def sample(index: int, task_type: str, synthetic: bool) -> Sample:
        return Sample(sample_id=str(index), task_type=task_type, source=Source(file="f", record_id=str(index)), synthetic=synthetic)

    samples = [sample(0, "ocr", False), sample(1, "ocr", True), sample(2, "ocr", True), sample(3, "gui_action", True)]
    assert mix_by_task_type(samples) == [
        {"task_type": "ocr", "real": 1, "synthetic": 2, "synthetic_share": 0.6667},
        {"task_type": "gui_action", "real": 0, "synthetic": 1, "synthetic_share": 1.0},
    ]
    assert mix_by_task_type([]) == []


def test_pdf_words_touching_across_a_font_change_stay_one_word() -> None:
    from vlforge.synth.documents.pdf import PdfWord, line_text

    words = [PdfWord("/usr/share/mime/html.xml", (119.5, 649.9, 275.567, 656.8), 0),
             PdfWord(",", (275.566, 648.7, 278.06, 657.7), 0), PdfWord("and", (280.55, 648.7, 290.0, 657.7), 0)]
    assert line_text(words) == "/usr/share/mime/html.xml, and"
