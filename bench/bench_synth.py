"""Synthesis speed on this machine: pages per second, screens per second, and the share of time in Chromium.

Renders ``PAGES`` document pages (without Tesseract, which the read-back adds per page and is
reported separately) and ``SCREENS`` GUI screens with their grounding and verified action
samples. Time inside Chromium is every Playwright call's wall time (``Browser.chromium_seconds``);
the rest is vlforge's own code (templates, harvesting, checks, PNG encoding, the store).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from vlforge.store import ImageStore
from vlforge.synth.browser import Browser
from vlforge.synth.documents import TESSERACT_LANGUAGES, DocumentGenerator
from vlforge.synth.documents.checks import ReferenceLine, page_accuracy
from vlforge.synth.documents.fill import TEMPLATES as PAGE_TEMPLATES
from vlforge.synth.documents.render import glyph_problems, split_words
from vlforge.synth.gui import ScreenGenerator
from vlforge.synth.gui.actions import screen_samples
from vlforge.synth.gui.fill import TEMPLATES as SCREEN_TEMPLATES
from vlforge.synth.stage import tesseract_words

PAGES = int(os.environ.get("BENCH_SYNTH_PAGES", "12"))
SCREENS = int(os.environ.get("BENCH_SYNTH_SCREENS", "8"))


def measure(pages: int = PAGES, screens: int = SCREENS) -> dict[str, float]:
    """Seconds of ``pages`` pages and ``screens`` screens, their Chromium seconds, samples, and Tesseract per page."""
    store = ImageStore(Path(tempfile.mkdtemp(prefix="bench_synth_")))
    with Browser() as browser:
        start, chromium_start = time.perf_counter(), browser.chromium_seconds
        rendered = []
        for index in range(pages):
            generator = DocumentGenerator(list(PAGE_TEMPLATES)[index % len(PAGE_TEMPLATES)], ("en", "zh")[index % 2])
            page = generator.render(browser, generator.sample(np.random.default_rng(index)))
            glyph_problems(page.blocks), split_words(page.words)
            rendered.append((generator.language, page))
        pages_s, pages_chromium = time.perf_counter() - start, browser.chromium_seconds - chromium_start
        start, chromium_start = time.perf_counter(), browser.chromium_seconds
        samples = 0
        for index in range(screens):
            template = list(SCREEN_TEMPLATES)[index % len(SCREEN_TEMPLATES)]
            params = ScreenGenerator(template, ("phone", "desktop")[index % 2]).sample(np.random.default_rng(index))
            samples += len(screen_samples(browser, params, store, index, 2, 2, False).samples)
        screens_s, screens_chromium = time.perf_counter() - start, browser.chromium_seconds - chromium_start
    start = time.perf_counter()
    for language, page in rendered[:4]:
        lines = [ReferenceLine(line.text, line.box) for line in page.lines]
        page_accuracy(tesseract_words, page.pixels, lines, TESSERACT_LANGUAGES[language], "bench")
    readback_s = (time.perf_counter() - start) / min(4, len(rendered))
    return {"pages": pages, "pages_s": pages_s, "pages_chromium_s": pages_chromium, "screens": screens, "screens_s": screens_s,
            "screens_chromium_s": screens_chromium, "screen_samples": samples, "readback_s_per_page": readback_s}  # fmt: skip


def run(quick: bool) -> dict:
    """The harness entry (``bench/run.py``): pages/s, screens/s, the share in Chromium, Tesseract per page."""
    m = measure(4, 2) if quick else measure()
    figures = [
        {"label": "document pages", "value": m["pages"] / m["pages_s"], "unit": "pages/s"},
        {"label": "share of page time in Chromium", "value": m["pages_chromium_s"] / m["pages_s"], "unit": "of time"},
        {"label": "GUI screens (with verified samples)", "value": m["screens"] / m["screens_s"], "unit": "screens/s"},
        {"label": "share of screen time in Chromium", "value": m["screens_chromium_s"] / m["screens_s"], "unit": "of time"},
        {"label": "Tesseract read-back per page (not counted above)", "value": m["readback_s_per_page"], "unit": "s"},
    ]
    return {"figures": figures, "aims": [], "notes": [f"{m['pages']} pages, {m['screens']} screens ({m['screen_samples']} samples)"]}


def main() -> None:
    m = measure()
    pages_s, screens_s = m["pages_s"], m["screens_s"]
    print(f"synth documents: {m['pages'] / pages_s:.2f} pages/s ({m['pages']} pages in {pages_s:.1f} s), "
          f"{m['pages_chromium_s'] / pages_s:.0%} in Chromium, {1 - m['pages_chromium_s'] / pages_s:.0%} in vlforge")
    print(f"synth screens: {m['screens'] / screens_s:.2f} screens/s ({m['screens']} screens, {m['screen_samples']} verified samples, "
          f"{screens_s:.1f} s), {m['screens_chromium_s'] / screens_s:.0%} in Chromium, {1 - m['screens_chromium_s'] / screens_s:.0%} in vlforge")
    print(f"synth read-back: {m['readback_s_per_page']:.2f} s per page in Tesseract (not counted above)")


if __name__ == "__main__":
    main()
