"""A team's own PDFs as OCR samples: pages rasterised with ``pdftoppm``, words and lines from ``pdftotext -bbox-layout``.

``pdftotext -bbox-layout`` writes XHTML with ``page`` (width and height in PDF points), ``line``
and ``word`` elements carrying ``xMin yMin xMax yMax`` in points from the top left. A page
rasterised at ``dpi`` is ``ceil(points * dpi / 72)`` pixels, so a coordinate becomes pixels with
``v * dpi / 72``. Lines keep pdftotext's order (its reading order: flow, block, line).
Both tools come from Debian's ``poppler-utils``.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vlforge.media import detect_language
from vlforge.records import Box, OcrLine, Sample
from vlforge.store import ImageStore, sha256_bytes
from vlforge.synth.samples import lineage_entry, store_png, synthetic_id, synthetic_source

_XHTML = "{http://www.w3.org/1999/xhtml}"
SPACE_GAP = 0.1


class PdfError(RuntimeError):
    """A PDF poppler cannot read, or poppler missing; names the file."""


@dataclass(frozen=True)
class PdfWord:
    text: str
    box: tuple[float, float, float, float]
    line: int


def _run(command: list[str], name: str) -> bytes:
    try:
        completed = subprocess.run(command, capture_output=True, timeout=300, check=False)
    except OSError as error:
        raise PdfError(f"cannot run {command[0]} on {name} ({error}); install poppler-utils (make setup)") from None
    if completed.returncode != 0:
        raise PdfError(f"{command[0]} failed on {name}: {completed.stderr.decode('utf-8', 'replace').strip()}")
    return completed.stdout


def pdf_words(path: Path, dpi: int, max_pages: int) -> list[list[PdfWord]]:
    """Per page (up to ``max_pages``), its words in pdftotext's reading order with boxes in pixels at ``dpi``."""
    xhtml = _run(["pdftotext", "-bbox-layout", "-l", str(max_pages), str(path), "-"], str(path))
    scale = dpi / 72.0
    pages = []
    try:
        root = ET.fromstring(xhtml)
    except ET.ParseError as error:
        raise PdfError(f"{path}: pdftotext -bbox-layout wrote unreadable XHTML ({error})") from None
    for page in root.iter(f"{_XHTML}page"):
        words, line_index = [], 0
        for line in page.iter(f"{_XHTML}line"):
            for word in line.iter(f"{_XHTML}word"):
                box = tuple(float(word.attrib[key]) * scale for key in ("xMin", "yMin", "xMax", "yMax"))
                if word.text and word.text.strip():
                    words.append(PdfWord(word.text.strip(), box, line_index))  # type: ignore[arg-type]
            line_index += 1
        pages.append(words)
    return pages


def rasterise(path: Path, dpi: int, max_pages: int) -> list[np.ndarray]:
    """Each page (up to ``max_pages``) as an HxWx3 uint8 array at ``dpi``."""
    with tempfile.TemporaryDirectory() as folder:
        _run(["pdftoppm", "-r", str(dpi), "-l", str(max_pages), "-png", str(path), f"{folder}/page"], str(path))
        files = sorted(Path(folder).glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return [np.asarray(Image.open(io.BytesIO(file.read_bytes())).convert("RGB")) for file in files]


def line_text(words: list[PdfWord]) -> str:
    """A line's words joined as plain ``pdftotext`` joins them: a space only where there is a gap.

    ``-bbox-layout`` also splits a word where the font changes (``/usr/share/mime/text/html.xml``
    in a monospace font followed by a roman ``,``); those pieces touch (gap under ``SPACE_GAP`` of
    the word height) and stay one word.
    """
    text = words[0].text
    for previous, word in zip(words, words[1:]):
        gap = word.box[0] - previous.box[2]
        text += (" " if gap > SPACE_GAP * (word.box[3] - word.box[1]) else "") + word.text
    return text


def pdf_samples(path: Path, store: ImageStore, dpi: int = 150, max_pages: int = 20) -> list[Sample]:
    """OCR samples of a PDF's pages: one per page with text, lines joined from its words, boxes in pixels.

    Raises:
        PdfError: naming the file when poppler cannot read it.
    """
    if not path.is_file():
        raise PdfError(f"{path}: no such PDF file")
    pages, images = pdf_words(path, dpi, max_pages), rasterise(path, dpi, max_pages)
    if len(pages) != len(images):
        raise PdfError(f"{path}: pdftotext found {len(pages)} pages but pdftoppm rendered {len(images)}")
    digest = sha256_bytes(path.read_bytes())[:16]
    samples = []
    for number, (words, pixels) in enumerate(zip(pages, images, strict=True), start=1):
        if not words:
            continue
        height, width = pixels.shape[:2]
        lines: dict[int, list[PdfWord]] = {}
        for word in words:
            lines.setdefault(word.line, []).append(word)
        ocr = tuple(
            OcrLine(
                text=line_text(members),
                box=Box(x1=max(0.0, min(w.box[0] for w in members)), y1=max(0.0, min(w.box[1] for w in members)),
                        x2=min(float(width), max(w.box[2] for w in members)),
                        y2=min(float(height), max(w.box[3] for w in members)), label="Text"),
                language=detect_language(line_text(members)),
            )
            for members in lines.values()
        )
        source = synthetic_source("pdf", path.name, 0, f"{digest}/page/{number}")
        samples.append(Sample(
            sample_id=synthetic_id(source), task_type="ocr", images=(store_png(store, pixels),), ocr_lines=ocr,
            source=source, item_id=synthetic_id(source), synthetic=True,
            lineage=(lineage_entry("synth.pdf", {"file": path.name, "sha256_16": digest, "page": number, "dpi": dpi}),),
        ))
    return samples
