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
from vlforge.synth.documents.render import glyph_problems, split_words
from vlforge.synth.gui import ScreenGenerator
from vlforge.synth.gui.actions import screen_samples
from vlforge.synth.stage import tesseract_words
from vlforge.synth.gui.fill import TEMPLATES as SCREEN_TEMPLATES
from vlforge.synth.documents.fill import TEMPLATES as PAGE_TEMPLATES

PAGES = int(os.environ.get("BENCH_SYNTH_PAGES", "12"))
SCREENS = int(os.environ.get("BENCH_SYNTH_SCREENS", "8"))


def main() -> None:
    store = ImageStore(Path(tempfile.mkdtemp(prefix="bench_synth_")))
    with Browser() as browser:
        start, chromium_start = time.perf_counter(), browser.chromium_seconds
        rendered = []
        for index in range(PAGES):
            generator = DocumentGenerator(list(PAGE_TEMPLATES)[index % len(PAGE_TEMPLATES)], ("en", "zh")[index % 2])
            page = generator.render(browser, generator.sample(np.random.default_rng(index)))
            glyph_problems(page.blocks), split_words(page.words)
            rendered.append((generator.language, page))
        pages_s, pages_chromium = time.perf_counter() - start, browser.chromium_seconds - chromium_start
        start, chromium_start = time.perf_counter(), browser.chromium_seconds
        samples = 0
        for index in range(SCREENS):
            template = list(SCREEN_TEMPLATES)[index % len(SCREEN_TEMPLATES)]
            params = ScreenGenerator(template, ("phone", "desktop")[index % 2]).sample(np.random.default_rng(index))
            samples += len(screen_samples(browser, params, store, index, 2, 2, False).samples)
        screens_s, screens_chromium = time.perf_counter() - start, browser.chromium_seconds - chromium_start
    start = time.perf_counter()
    for language, page in rendered[:4]:
        lines = [ReferenceLine(line.text, line.box) for line in page.lines]
        page_accuracy(tesseract_words, page.pixels, lines, TESSERACT_LANGUAGES[language], "bench")
    readback_s = (time.perf_counter() - start) / min(4, len(rendered))
    print(f"synth documents: {PAGES / pages_s:.2f} pages/s ({PAGES} pages in {pages_s:.1f} s), "
          f"{pages_chromium / pages_s:.0%} in Chromium, {1 - pages_chromium / pages_s:.0%} in vlforge")
    print(f"synth screens: {SCREENS / screens_s:.2f} screens/s ({SCREENS} screens, {samples} verified samples, "
          f"{screens_s:.1f} s), {screens_chromium / screens_s:.0%} in Chromium, {1 - screens_chromium / screens_s:.0%} in vlforge")
    print(f"synth read-back: {readback_s:.2f} s per page in Tesseract (not counted above)")


if __name__ == "__main__":
    main()
