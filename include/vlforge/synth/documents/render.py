"""Render a filled HTML page in Chromium and read its words and lines back from the DOM.

Word boxes are the client rectangles of DOM ``Range`` objects over each word of each text node,
times the device pixel ratio, so they are in pixels of the screenshot. A word is a run of
non-space characters, except that every CJK character (and full-width punctuation) is a word
of its own, as Chinese is written without spaces.

Each word belongs to a block: the closest ancestor marked ``data-block`` (a flex row such as a
receipt line "Coffee ... 3.50"), else the closest ancestor that is not inline. Lines are formed
inside a block in text order: a word starts a new line when it begins left of the previous
word's end or does not overlap it vertically. Reading order is block order (document order),
then line order. Words are joined with a space where the source has whitespace between them or
where the gap between them is wider than ``SPACE_GAP`` of the word height (flex rows, table-like
spacing).

The page's height follows its content: the viewport is resized to the document's height before
the screenshot, so every word is on the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlforge.augment.targets import XYXY
from vlforge.synth.browser import Browser, Page, Viewport
from vlforge.synth.fonts import missing_characters

SPACE_GAP = 0.3

_HARVEST_JS = r"""
(scale) => {
  const CJK = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/u;
  const TOKEN = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]|[^\s\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+/gu;
  const blockOf = (node) => {
    const marked = node.parentElement.closest('[data-block]');
    if (marked) return marked;
    let el = node.parentElement;
    while (el.parentElement && getComputedStyle(el).display.startsWith('inline')) el = el.parentElement;
    return el;
  };
  const clipOf = (el) => {
    let clip = [0, 0, document.documentElement.scrollWidth, document.documentElement.scrollHeight];
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const r = a.getBoundingClientRect();
        clip = [Math.max(clip[0], r.left), Math.max(clip[1], r.top), Math.min(clip[2], r.right), Math.min(clip[3], r.bottom)];
      }
    }
    return clip;
  };
  const blocks = [], words = [], fontUnits = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => ['SCRIPT', 'STYLE'].includes(n.parentElement.tagName) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const range = document.createRange();
  let lastBlock = -1, pendingSpace = false, node;
  while ((node = walker.nextNode())) {
    if (!/\S/.test(node.data)) { pendingSpace = pendingSpace || node.data.length > 0; continue; }
    if (!fontUnits.includes(node.parentElement)) {
      node.parentElement.setAttribute('data-vl-font', fontUnits.length);
      fontUnits.push(node.parentElement);
    }
    const block = blockOf(node);
    let index = blocks.indexOf(block);
    if (index < 0) { index = blocks.length; blocks.push(block); }
    if (index !== lastBlock) pendingSpace = false;
    lastBlock = index;
    const text = node.data, clip = clipOf(node.parentElement);
    let end = 0;
    for (const m of text.matchAll(TOKEN)) {
      const space = pendingSpace || /\s/.test(text.slice(end, m.index));
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0 && r.height > 0);
      const cut = rects.some((r) => r.left < clip[0] - 0.5 || r.top < clip[1] - 0.5 || r.right > clip[2] + 0.5 || r.bottom > clip[3] + 0.5);
      words.push({
        text: m[0], block: index, space_before: space, cut: cut, cjk: CJK.test(m[0]),
        rects: rects.map((r) => [r.left * scale, r.top * scale, r.right * scale, r.bottom * scale]),
      });
      pendingSpace = false;
      end = m.index + m[0].length;
    }
    pendingSpace = pendingSpace || /\s/.test(text.slice(end)) || (end === 0 && /\s/.test(text));
  }
  const ownText = (el) => Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.data).join('');
  return {words: words, font_units: fontUnits.map(ownText)};
}
"""


@dataclass(frozen=True)
class Word:
    """One word as laid out: its box (union of its rectangles), block and line, and how many pieces it was drawn in."""

    text: str
    box: XYXY
    block: int
    line: int
    space_before: bool
    pieces: int
    cut: bool


@dataclass(frozen=True)
class Line:
    text: str
    box: XYXY
    words: tuple[int, ...]


@dataclass(frozen=True)
class BlockFonts:
    """An element's own text and the PostScript names of the fonts Chromium drew it with."""

    text: str
    fonts: tuple[str, ...]


@dataclass(frozen=True)
class RenderedDocument:
    pixels: np.ndarray
    words: tuple[Word, ...]
    lines: tuple[Line, ...]
    blocks: tuple[BlockFonts, ...] = field(default=())

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def render_document(browser: Browser, html: str, width: int, device_scale_factor: float) -> RenderedDocument:
    """Render ``html`` ``width`` CSS px wide, as tall as its content, and read back words, lines and fonts.

    Args:
        browser: the shard's running Chromium.
        html: a complete HTML page.
        width: the page width in CSS px.
        device_scale_factor: screenshot pixels per CSS px.

    Returns:
        The screenshot and its words and lines in reading order, boxes in screenshot pixels.
    """
    page = browser.open(html, Viewport(width, 100, device_scale_factor))
    try:
        height = int(page.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        page.resize(Viewport(width, height, device_scale_factor))
        harvested = page.evaluate(_HARVEST_JS, device_scale_factor)
        fonts = used_fonts(page, len(harvested["font_units"]))
        blocks = tuple(BlockFonts(text, names) for text, names in zip(harvested["font_units"], fonts, strict=True))
        pixels = page.screenshot()
    finally:
        page.close()
    words, lines = group_lines(harvested["words"])
    return RenderedDocument(pixels=pixels, words=words, lines=lines, blocks=blocks)


def used_fonts(page: Page, count: int) -> list[tuple[str, ...]]:
    """PostScript names of the fonts Chromium drew each marked element's own text with (DevTools CSS domain)."""
    page.cdp("DOM.enable")
    page.cdp("CSS.enable")
    root = page.cdp("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    nodes = page.cdp("DOM.querySelectorAll", {"nodeId": root, "selector": "[data-vl-font]"})["nodeIds"]
    if len(nodes) != count:
        raise RuntimeError(f"font check: {len(nodes)} marked elements in the DOM, expected {count}")
    fonts = [page.cdp("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"] for node in nodes]
    return [tuple(sorted({font["postScriptName"] for font in used})) for used in fonts]


def _union(rects: list[list[float]]) -> XYXY:
    return (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )


def group_lines(raw_words: list[dict]) -> tuple[tuple[Word, ...], tuple[Line, ...]]:
    """Words (with their line numbers) and lines from the harvested words, in reading order.

    Args:
        raw_words: ``{text, block, space_before, cut, rects}`` per word, rects in screenshot pixels.

    Returns:
        The words that have a rectangle, and the lines they form.
    """
    words: list[Word] = []
    lines: list[list[int]] = []
    previous: dict | None = None
    for raw in raw_words:
        if not raw["rects"]:
            continue
        box = _union(raw["rects"])
        first = raw["rects"][0]
        new_line = previous is None or previous["block"] != raw["block"]
        if not new_line:
            assert previous is not None
            last = previous["rects"][-1]
            overlap = min(first[3], last[3]) - max(first[1], last[1])
            new_line = first[0] < last[2] - 0.5 or overlap < 0.5 * min(first[3] - first[1], last[3] - last[1])
        if new_line:
            lines.append([])
        space = bool(raw["space_before"])
        if not new_line and not space:
            last = previous["rects"][-1]  # type: ignore[index]
            space = first[0] - last[2] > SPACE_GAP * (first[3] - first[1])
        lines[-1].append(len(words))
        words.append(
            Word(
                text=raw["text"],
                box=box,
                block=int(raw["block"]),
                line=len(lines) - 1,
                space_before=space and not new_line,
                pieces=len(raw["rects"]),
                cut=bool(raw["cut"]),
            )
        )
        previous = raw
    return tuple(words), tuple(
        Line(
            text="".join((" " if words[i].space_before else "") + words[i].text for i in members),
            box=_union([list(words[i].box) for i in members]),
            words=tuple(members),
        )
        for members in lines
    )


def split_words(words: tuple[Word, ...]) -> list[str]:
    """The word-integrity check: every word drawn in more than one piece, or cut off by its box."""
    problems = []
    for word in words:
        if word.pieces > 1:
            problems.append(f"word {word.text!r} is split across {word.pieces} lines or boxes")
        elif word.cut:
            problems.append(f"word {word.text!r} at {[round(v, 1) for v in word.box]} is cut off by its box")
    return problems


def glyph_problems(blocks: tuple[BlockFonts, ...]) -> list[str]:
    """The glyph-coverage check: characters that no font Chromium used for their block can draw."""
    problems = []
    for block in blocks:
        missing = missing_characters(block.text, block.fonts)
        if missing:
            names = ", ".join(f"U+{ord(c):04X} {c!r}" for c in missing)
            problems.append(f"no glyph for {names} in the fonts used ({', '.join(block.fonts) or 'none'})")
    return problems
