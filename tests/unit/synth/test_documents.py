"""Documents rendered in Chromium: DOM boxes against hand-computed values, read-back, planted faults."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fontTools.ttLib import TTFont

from vlforge.synth.browser import Browser
from vlforge.synth.config import DocumentsConfig
from vlforge.synth.degrade import build_degradations, degrade
from vlforge.synth.documents import TESSERACT_LANGUAGES, DocumentGenerator, render_html
from vlforge.synth.documents.checks import ReferenceLine, page_accuracy
from vlforge.synth.documents.pages import ocr_lines
from vlforge.synth.documents.render import glyph_problems, render_document, split_words
from vlforge.synth.fonts import installed_faces
from vlforge.synth.stage import tesseract_words

pytestmark = pytest.mark.slow

STYLE = {"paper": "#ffffff", "ink": "#000000", "muted": "#555555", "accent": "#0000ff", "font_family": "'DejaVu Sans'", "font_size": 16}
FIXED = """{% extends "base.html.j2" %}{% block body %}
<p style="position:absolute; left:40px; top:30px; margin:0; font: 20px/32px 'DejaVu Sans Mono'">HELLO WORLD</p>
<p lang="zh-CN" style="position:absolute; left:40px; top:100px; margin:0; font: 20px/32px 'Noto Sans CJK SC'">你好 世界</p>
{% endblock %}"""
DPR = 2.0
# Skia's float advances can fall a hair under a whole pixel, so the LayoutUnit (1/64 CSS px) floor may
# land one unit lower than the hand value: at most 1/64 CSS px = 1/32 screenshot px.
UNIT = DPR / 64


def _page(body: str, language: str = "en") -> str:
    source = '{% extends "base.html.j2" %}{% block body %}' + body + "{% endblock %}"
    return render_html("", {"language": language, "fields": {}, "style": STYLE}, source)


def _font(postscript: str) -> TTFont:
    face = installed_faces()[postscript]
    return TTFont(face.path, fontNumber=face.index, lazy=True)


def _snap_left(css: float) -> float:
    return math.floor(css * 64) / 64


def _snap_right(css: float) -> float:
    return math.ceil(css * 64) / 64


def test_dom_boxes_match_hand_computed_font_metrics(browser: Browser) -> None:
    mono, cjk = _font("DejaVuSansMono"), _font("NotoSansCJKsc-Regular")
    # DejaVu Sans Mono: every glyph advances 1233/2048 em; at 20px that is 12.041015625 px.
    advance = mono["hmtx"]["H"][0] / mono["head"].unitsPerEm * 20
    ascent = round(mono["hhea"].ascent / mono["head"].unitsPerEm * 20)  # 19
    descent = round(-mono["hhea"].descent / mono["head"].unitsPerEm * 20)  # 5
    top = 30 + (32 - ascent - descent) // 2  # half-leading of the 32px line box
    # Noto Sans CJK SC: ideographs advance 1 em (20px), the space 224/1000 em.
    ideograph = cjk["hmtx"][cjk.getBestCmap()[ord("你")]][0] / 1000 * 20
    space = cjk["hmtx"][cjk.getBestCmap()[ord(" ")]][0] / 1000 * 20
    cjk_ascent, cjk_descent = round(cjk["hhea"].ascent / 1000 * 20), round(-cjk["hhea"].descent / 1000 * 20)
    cjk_top = 100 + (32 - cjk_ascent - cjk_descent) // 2

    rendered = render_document(browser, _page(FIXED.split("{% block body %}")[1].split("{% endblock %}")[0]), 300, DPR)

    def px(x1: float, y1: float, x2: float, y2: float) -> tuple[float, ...]:
        return (x1 * DPR, y1 * DPR, x2 * DPR, y2 * DPR)

    expected = [
        ("HELLO", px(40, top, 40 + _snap_right(5 * advance), top + ascent + descent)),
        ("WORLD", px(40 + _snap_left(6 * advance), top, 40 + _snap_right(11 * advance), top + ascent + descent)),
        ("你", px(40, cjk_top, 40 + _snap_right(ideograph), cjk_top + cjk_ascent + cjk_descent)),
        ("好", px(40 + _snap_left(ideograph), cjk_top, 40 + _snap_right(2 * ideograph), cjk_top + cjk_ascent + cjk_descent)),
        ("世", px(40 + _snap_left(2 * ideograph + space), cjk_top, 40 + _snap_right(3 * ideograph + space), cjk_top + 29)),
        ("界", px(40 + _snap_left(3 * ideograph + space), cjk_top, 40 + _snap_right(4 * ideograph + space), cjk_top + 29)),
    ]
    assert expected[0][1] == (80.0, 68.0, 200.4375, 116.0)  # the hand values, written out once
    assert [word.text for word in rendered.words] == [text for text, _ in expected]
    for word, (_, box) in zip(rendered.words, expected, strict=True):
        assert word.box == pytest.approx(box, abs=UNIT), word
    assert [line.text for line in rendered.lines] == ["HELLO WORLD", "你好 世界"]
    assert rendered.lines[0].box == pytest.approx(px(40, top, 40 + _snap_right(11 * advance), top + 24), abs=UNIT)
    assert [block.fonts for block in rendered.blocks] == [("DejaVuSansMono",), ("NotoSansCJKsc-Regular",)]
    assert glyph_problems(rendered.blocks) == [] and split_words(rendered.words) == []


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("template", ["receipt"])
def test_clean_pages_read_back_at_95_percent_and_strong_degradation_lowers_it(browser, tesseract, template, language) -> None:
    generator = DocumentGenerator(template, language)
    rng = np.random.default_rng(2)
    params = generator.sample(rng)
    rendered = generator.render(browser, params)
    lines = ocr_lines(rendered)
    assert lines and all(line.box is not None for line in lines)
    assert glyph_problems(rendered.blocks) == [] and split_words(rendered.words) == []
    reference = [ReferenceLine(line.text, (line.box.x1, line.box.y1, line.box.x2, line.box.y2)) for line in lines]
    clean = page_accuracy(tesseract_words, rendered.pixels, reference, TESSERACT_LANGUAGES[language], template)
    assert clean >= 0.95

    strong = [
        {"resample": {"scale_range": (0.18, 0.18), "restore_probability": 1.0}},
        {"gaussian_blur": {"sigma_range": (3.0, 3.0)}},
        {"gaussian_noise": {"std_range": (0.2, 0.2)}},
        {"jpeg": {"quality_range": (8, 8)}},
    ]
    page = degrade(rendered.pixels, lines, build_degradations(strong), rng)
    assert len(page.lineage) == 4 and page.lines == lines  # pixel-only ops: boxes unchanged
    degraded = [ReferenceLine(line.text, (line.box.x1, line.box.y1, line.box.x2, line.box.y2)) for line in page.lines]
    assert page_accuracy(tesseract_words, page.pixels, degraded, TESSERACT_LANGUAGES[language], template) < clean - 0.2


def test_planted_missing_glyph_is_caught(browser: Browser) -> None:
    # U+13000 EGYPTIAN HIEROGLYPH A001 is in no installed font: Chromium draws a missing-glyph box.
    rendered = render_document(browser, _page("<p>Total \U00013000 due</p><p>Fine line</p>"), 400, DPR)
    problems = glyph_problems(rendered.blocks)
    assert len(problems) == 1 and "U+13000" in problems[0] and "DejaVuSans" in problems[0]


def test_planted_split_word_is_caught(browser: Browser) -> None:
    body = '<p style="width:90px; word-break:break-all">Internationalisation</p><p>whole words only</p>'
    rendered = render_document(browser, _page(body), 400, DPR)
    problems = split_words(rendered.words)
    assert problems == [f"word 'Internationalisation' is split across {rendered.words[0].pieces} lines or boxes"]
    assert rendered.words[0].pieces >= 2


def test_word_cut_by_its_box_is_caught(browser: Browser) -> None:
    body = '<div style="width:80px; overflow:hidden; white-space:nowrap">Supercalifragilistic</div>'
    problems = split_words(render_document(browser, _page(body), 400, DPR).words)
    assert len(problems) == 1 and "cut off by its box" in problems[0]


def test_every_template_renders_in_both_languages_without_faults(browser: Browser) -> None:
    for template in DocumentsConfig().templates:
        for language in ("en", "zh"):
            generator = DocumentGenerator(template, language)
            rendered = generator.render(browser, generator.sample(np.random.default_rng(5)))
            assert rendered.lines, (template, language)
            assert glyph_problems(rendered.blocks) == [], (template, language)
            assert split_words(rendered.words) == [], (template, language)
            width, height = rendered.size
            for word in rendered.words:
                assert 0 <= word.box[0] < word.box[2] <= width and 0 <= word.box[1] < word.box[3] <= height
