"""The checks every synthetic page passes before it becomes a sample; each failure is a quarantine reason.

- glyph coverage and word integrity: ``render.glyph_problems`` and ``render.split_words``;
- read-back: Tesseract (passed in as a ``PageReader``) reads the clean page at the recipe's
  ``min_readback_accuracy`` or better, else the template or its font is broken. The same
  measurement on a degraded page is that page's difficulty.

Read-back accuracy is vlforge's OCR character accuracy (``quality.metrics.ocr``) computed per
reference line: every Tesseract word goes to the first line, in reading order, whose box (grown
by a quarter of its height above and below) holds the word's centre; a line's hypothesis is its
words left to right. Whitespace is removed on both sides first: spacing is layout, which the
boxes carry, and Tesseract guesses spaces between CJK characters. Words that fall in no line count
all their characters as insertions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vlforge.augment.targets import XYXY
from vlforge.quality.metrics.ocr import char_distance


@dataclass(frozen=True)
class ReferenceLine:
    text: str
    box: XYXY


@dataclass(frozen=True)
class ReadWord:
    """A word an OCR engine read: its text and box ``left, top, right, bottom`` in pixels."""

    text: str
    box: XYXY


# An OCR engine: (pixels, language codes, a name for errors) -> the words it read. The stage passes
# Tesseract (``stage.tesseract_words``); the engines here never start a process themselves.
PageReader = Callable[[np.ndarray, Sequence[str], str], list[ReadWord]]


def _compact(text: str) -> str:
    return "".join(text.split())


def readback_accuracy(lines: Sequence[ReferenceLine], words: Sequence[ReadWord]) -> float:
    """Character accuracy of Tesseract's words against the page's lines (see the module docstring).

    Returns:
        ``max(0, 1 - distance / reference characters)``; 1.0 for a page without text that Tesseract
        also finds empty.
    """
    assigned: list[list[ReadWord]] = [[] for _ in lines]
    inserted = 0
    for word in words:
        cx, cy = (word.box[0] + word.box[2]) / 2, (word.box[1] + word.box[3]) / 2
        for index, line in enumerate(lines):
            x1, y1, x2, y2 = line.box
            pad = (y2 - y1) / 4
            if x1 - pad <= cx <= x2 + pad and y1 - pad <= cy <= y2 + pad:
                assigned[index].append(word)
                break
        else:
            inserted += len(_compact(word.text))
    distance = inserted
    reference_chars = 0
    for line, found in zip(lines, assigned, strict=True):
        reference = _compact(line.text)
        hypothesis = "".join(_compact(word.text) for word in sorted(found, key=lambda w: w.box[0]))
        distance += char_distance(reference, hypothesis)
        reference_chars += len(reference)
    if reference_chars == 0:
        return 1.0 if distance == 0 else 0.0
    return max(0.0, 1.0 - distance / reference_chars)


def page_accuracy(
    read: PageReader, pixels: np.ndarray, lines: Sequence[ReferenceLine], languages: Sequence[str], name: str
) -> float:
    """The read-back accuracy of ``read`` on ``pixels`` against ``lines`` (boxes on those pixels)."""
    return readback_accuracy(lines, read(pixels, languages, name))
