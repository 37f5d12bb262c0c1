"""Tesseract (the real binary, English and Simplified Chinese) reads the reference images into lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vlforge.preannotate.tesseract import TesseractError, check_languages, installed_languages, parse_tsv, recognise

PARAGRAPH = "debian_opencv_doc_4.6.0+dfsg-12/data/imageTextN.png"
PAGE = "images_from_wheels/skimage/page.png"
PHONE_ZH = "qwen25vl_cookbook_gui/assets/agent_function_call/mobile_zh_example.jpg"

TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


def _read(fixtures_dir: Path, name: str) -> list:
    with Image.open(fixtures_dir / name) as image:
        return recognise(image, name, ("eng", "chi_sim"))


@pytest.mark.slow
def test_printed_english_paragraph_is_read_line_by_line(fixtures_dir: Path) -> None:
    lines = _read(fixtures_dir, PARAGRAPH)
    texts = [recognised.line.text for recognised in lines]
    assert texts[0] == "technical details are too complex to cover in the book itself."
    joined = " ".join(texts).lower()
    for words in ("small implementation projects", "real-world images", "computer vision problems", "high-level approaches"):
        assert words in joined
    assert len(lines) == 13  # every printed line of the paragraph
    tops = [recognised.line.box.y1 for recognised in lines]
    assert tops == sorted(tops)  # reading order
    for recognised in lines:
        box = recognised.line.box
        assert 0 <= box.x1 < box.x2 <= 556 and 0 <= box.y1 < box.y2 <= 257
        assert recognised.line.language == "en"
        assert 0.8 < recognised.confidence <= 1.0
    first = lines[0].line.box
    assert (first.x1, first.y1) == (31.0, 19.0) and 340 <= first.x2 <= 360 and 28 <= first.y2 <= 34


@pytest.mark.slow
def test_scanned_book_page_is_read(fixtures_dir: Path) -> None:
    joined = " ".join(recognised.line.text for recognised in _read(fixtures_dir, PAGE)).lower()
    for words in ("segmentation", "markers of the coins", "background"):
        assert words in joined


@pytest.mark.slow
def test_simplified_chinese_screenshot_lines_are_chinese_and_unspaced(fixtures_dir: Path) -> None:
    lines = _read(fixtures_dir, PHONE_ZH)
    by_text = {recognised.line.text: recognised.line for recognised in lines}
    chinese = [text for text, line in by_text.items() if line.language == "zh"]
    assert any("广西砂糖桔950g" in text for text in chinese)
    assert any("满49元可享超值换购" in text for text in chinese)
    assert any("鲜活大基围虾" in text for text in chinese)
    sugar = next(line for text, line in by_text.items() if "广西砂糖桔" in text)
    # The product title sits right of its photo, about 660-690 px down the 720x1280 screen.
    assert sugar.box.x1 > 190 and 650 < sugar.box.y1 < sugar.box.y2 < 700


def test_tsv_words_group_into_lines_with_union_boxes_and_mean_confidence() -> None:
    tsv = TSV_HEADER + "".join(
        "\t".join(str(value) for value in row) + "\n"
        for row in [
            (1, 1, 0, 0, 0, 0, 0, 0, 300, 100, -1, ""),
            (4, 1, 1, 1, 1, 0, 10, 10, 200, 20, -1, ""),
            (5, 1, 1, 1, 1, 1, 10, 10, 50, 20, 90, "Hello"),
            (5, 1, 1, 1, 1, 2, 70, 12, 60, 18, 80, "world"),
            (5, 1, 1, 1, 1, 3, 140, 10, 10, 20, 5, "~"),  # below min_word_confidence
            (5, 1, 1, 1, 2, 1, 10, 50, 20, 20, 96, "满"),
            (5, 1, 1, 1, 2, 2, 30, 50, 20, 20, 94, "49"),
            (5, 1, 1, 1, 2, 3, 50, 50, 20, 20, 92, "元"),
            (5, 1, 1, 1, 2, 4, 80, 50, 30, 20, 90, "OK"),
            (5, 1, 2, 1, 1, 1, 10, 80, 20, 10, 20, "~~"),  # a line of nothing but dropped words
            (5, 1, 2, 1, 1, 2, 40, 80, 20, 10, 95, " "),
        ]
    )
    lines = parse_tsv(tsv, min_word_confidence=30)
    assert [recognised.line.text for recognised in lines] == ["Hello world", "满49元OK"]
    assert [recognised.line.language for recognised in lines] == ["en", "zh"]
    first = lines[0].line.box
    assert (first.x1, first.y1, first.x2, first.y2) == (10.0, 10.0, 130.0, 30.0)
    assert lines[0].confidence == pytest.approx(0.85)
    assert parse_tsv(TSV_HEADER) == []


@pytest.mark.slow
def test_a_missing_language_pack_is_named_with_the_installed_ones() -> None:
    assert {"eng", "chi_sim"} <= set(installed_languages())
    with pytest.raises(TesseractError, match=r"\['klingon'\] not installed; installed: .*'chi_sim'.*'eng'"):
        check_languages(["eng", "klingon"])


@pytest.mark.slow
def test_a_failing_tesseract_names_the_image(tmp_path: Path) -> None:
    fake = tmp_path / "tesseract"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --list-langs ]; then echo "List of available languages (1):"; echo eng; exit 0; fi\n'
        'echo "Error in pixReadMem: Unknown format: no pix returned" >&2; exit 1\n'
    )
    fake.chmod(0o755)
    with pytest.raises(TesseractError, match=r"tesseract failed on shop/receipt 7\.png \(exit 1\): Error in pixReadMem"):
        recognise(Image.new("RGB", (20, 20)), "shop/receipt 7.png", ["eng"], binary=str(fake))


def test_a_missing_binary_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(TesseractError, match="install tesseract-ocr"):
        recognise(Image.new("RGB", (20, 20)), "x.png", ["eng"], binary=str(tmp_path / "no-such-tesseract"))
