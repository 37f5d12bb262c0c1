"""Samples from one synthetic page: the clean page and its degraded copies, every check recorded.

A clean page that fails a check (glyph coverage, word integrity, read-back) is quarantined with
the reason and yields no sample. Its degraded copies are drawn from the page's own ``rng``; a copy
whose difficulty (Tesseract accuracy) falls outside the recipe's range is drawn again, up to
``max_attempts`` times, then counted as out of range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlforge.augment.functional import BOX_DECIMALS
from vlforge.media import detect_language
from vlforge.records import Box, LineageOp, OcrLine, Sample
from vlforge.store import ImageStore
from vlforge.synth.browser import Browser
from vlforge.synth.config import DocumentsConfig
from vlforge.synth.degrade import build_degradations, degrade
from vlforge.synth.documents import TESSERACT_LANGUAGES, DocumentGenerator
from vlforge.synth.documents.checks import PageReader, ReferenceLine, page_accuracy
from vlforge.synth.documents.render import RenderedDocument, glyph_problems, split_words
from vlforge.synth.samples import lineage_entry, png_ref, synthetic_id, synthetic_source


@dataclass(frozen=True)
class PageCheck:
    """One row of the synth gate's ``pages`` table."""

    sample_id: str
    template: str
    language: str
    kind: str  # "clean" or "degraded"
    glyphs_ok: bool
    words_ok: bool
    accuracy: float | None
    reason: str = ""


@dataclass
class PageResult:
    samples: list[Sample] = field(default_factory=list)
    checks: list[PageCheck] = field(default_factory=list)
    quarantine: list[dict[str, str]] = field(default_factory=list)


def ocr_lines(rendered: RenderedDocument) -> tuple[OcrLine, ...]:
    """The page's lines in reading order as canonical OCR lines (language detected per line).

    Boxes are rounded to ``BOX_DECIMALS`` as every augment op rounds them, so a degradation without
    geometry leaves them equal (DOM boxes are multiples of 1/64 CSS px: at most 0.00005 px moves).
    """
    return tuple(
        OcrLine(text=line.text, box=Box(**dict(zip(("x1", "y1", "x2", "y2"), (round(v, BOX_DECIMALS) for v in line.box))),
                                        label="Text"),
                language=detect_language(line.text))
        for line in rendered.lines
    )


def _reference(lines: tuple[OcrLine, ...]) -> list[ReferenceLine]:
    return [ReferenceLine(line.text, (line.box.x1, line.box.y1, line.box.x2, line.box.y2)) for line in lines if line.box]


def _sample(store: ImageStore | None, pixels: np.ndarray, lines: tuple[OcrLine, ...], params: dict[str, Any], seed: int,
            record: str, lineage: tuple[LineageOp, ...]) -> Sample:
    """The page's sample; its image is put in ``store`` unless None (a copy that may yet be left out)."""
    source = synthetic_source("documents", params["template"], seed, record)
    return Sample(
        sample_id=synthetic_id(source), task_type="ocr", images=(png_ref(pixels, store),), ocr_lines=lines,
        source=source, item_id=synthetic_id(synthetic_source("documents", params["template"], seed, "page")),
        synthetic=True, lineage=lineage,
    )


def page_samples(browser: Browser, read: PageReader, params: dict[str, Any], store: ImageStore, seed: int,
                 config: DocumentsConfig, rng: np.random.Generator) -> PageResult:
    """Render one page from ``params``, check it, and make its clean and degraded samples.

    Args:
        browser: the shard's Chromium.
        read: the OCR engine of the read-back check and the difficulty (Tesseract in the stage).
        params: ``DocumentGenerator.sample`` output (recorded in the lineage).
        store: where the page images go.
        seed: the page's seed (in its source and lineage).
        config: read-back threshold and degradation settings.
        rng: draws the degradations.
    """
    result = PageResult()
    template, language = params["template"], params["language"]
    rendered = DocumentGenerator(template, language).render(browser, params)
    lines = ocr_lines(rendered)
    render_entry = lineage_entry(DocumentGenerator.name, params, seed)
    clean = _sample(store, rendered.pixels, lines, params, seed, "clean", (render_entry,))
    glyphs, words = glyph_problems(rendered.blocks), split_words(rendered.words)
    accuracy = page_accuracy(read, rendered.pixels, _reference(lines), TESSERACT_LANGUAGES[language], clean.sample_id)
    reasons = [*glyphs, *words]
    if accuracy < config.min_readback_accuracy:
        reasons.append(f"Tesseract reads the clean page at {accuracy:.3f} < {config.min_readback_accuracy}")
    result.checks.append(PageCheck(clean.sample_id, template, language, "clean", not glyphs, not words, accuracy, "; ".join(reasons)))
    if reasons:
        result.quarantine.append({"sample_id": clean.sample_id, "source_file": clean.source.file,
                                  "record_id": clean.source.record_id, "reason": "; ".join(reasons)})
        return result
    result.samples.append(clean)
    ops = build_degradations(config.degrade.ops)
    low, high = config.degrade.accuracy_range
    for copy in range(config.degrade.copies_per_page):
        for attempt in range(config.degrade.max_attempts):
            page = degrade(rendered.pixels, lines, ops, rng)
            record = f"degraded/{copy}/{attempt}"
            sample = _sample(None, page.pixels, page.lines, params, seed, record, (render_entry, *page.lineage))
            difficulty = page_accuracy(read, page.pixels, _reference(page.lines), TESSERACT_LANGUAGES[language], sample.sample_id)
            inside = low <= difficulty <= high
            reason = "" if inside else f"difficulty {difficulty:.3f} outside {list(config.degrade.accuracy_range)}"
            result.checks.append(PageCheck(sample.sample_id, template, language, "degraded", True, True, difficulty, reason))
            if inside:
                png_ref(page.pixels, store)
                result.samples.append(sample)
                break
    return result
