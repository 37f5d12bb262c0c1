"""OCR lines from the Tesseract command line (``tesseract ... tsv``), without a Python binding.

The image goes to Tesseract as PNG on standard input, already EXIF-oriented, so the boxes are in
pixels of the image as displayed. Tesseract's TSV has one row per word with its block, paragraph
and line numbers; the words of a line are joined into one ``OcrLine`` whose box is the union of
its words' boxes and whose confidence is their mean.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from vlforge.media import detect_language
from vlforge.records import Box, OcrLine

_WORD_LEVEL = "5"
_CJK_START = ("\u3000", "\u3040", "\u3400", "\u4e00", "\uac00", "\uff00")
_CJK_END = ("\u303f", "\u30ff", "\u4dbf", "\u9fff", "\ud7af", "\uffef")


class TesseractError(RuntimeError):
    """Tesseract is missing, lacks a language, or failed on an image (the message names it)."""


@dataclass(frozen=True)
class RecognisedLine:
    """A text line Tesseract read, with its mean word confidence in ``[0, 1]``."""

    line: OcrLine
    confidence: float


def installed_languages(binary: str = "tesseract") -> tuple[str, ...]:
    """The language packs ``tesseract --list-langs`` reports.

    Raises:
        TesseractError: when the binary cannot be run.
    """
    return _installed_languages(binary)


@functools.cache
def _installed_languages(binary: str) -> tuple[str, ...]:
    try:
        completed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TesseractError(f"cannot run {binary!r} ({error}); install tesseract-ocr (make setup)") from None
    if completed.returncode != 0:
        raise TesseractError(f"'{binary} --list-langs' failed: {completed.stderr.strip()}")
    lines = (completed.stdout + completed.stderr).splitlines()
    return tuple(sorted(line.strip() for line in lines[1:] if line.strip() and not line.startswith("List of")))


def tesseract_version(binary: str = "tesseract") -> str:
    """``tesseract 5.3.0`` or similar: the first line of ``tesseract --version``."""
    try:
        completed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TesseractError(f"cannot run {binary!r} ({error}); install tesseract-ocr (make setup)") from None
    output = (completed.stdout or completed.stderr).strip().splitlines()
    return output[0].strip() if output else binary


def check_languages(languages: Sequence[str], binary: str = "tesseract") -> None:
    """Fail early, listing what is installed, when a requested language pack is missing.

    Raises:
        TesseractError: naming the missing languages and the installed ones.
    """
    installed = installed_languages(binary)
    missing = [language for language in languages if language not in installed]
    if missing:
        raise TesseractError(
            f"tesseract language(s) {missing} not installed; installed: {list(installed)} "
            "(Debian packages tesseract-ocr-<lang>, e.g. tesseract-ocr-chi-sim)"
        )


def recognise(
    image: Image.Image,
    name: str,
    languages: Sequence[str] = ("eng", "chi_sim"),
    psm: int = 3,
    min_word_confidence: float = 30.0,
    timeout_s: float = 120.0,
    binary: str = "tesseract",
) -> list[RecognisedLine]:
    """Run Tesseract on an (already oriented) image and group its words into lines.

    Args:
        image: the image as displayed.
        name: how errors name the image (its path).
        languages: Tesseract language codes, tried together (``-l eng+chi_sim``).
        psm: page segmentation mode.
        min_word_confidence: words with a lower confidence (0-100) are left out.
        timeout_s: how long one image may take.
        binary: the tesseract executable.

    Returns:
        The lines in Tesseract's reading order (block, paragraph, line).

    Raises:
        TesseractError: naming the image when Tesseract fails or times out.
    """
    return parse_tsv(run_tsv(image, name, languages, psm, timeout_s, binary), min_word_confidence)


def run_tsv(
    image: Image.Image,
    name: str,
    languages: Sequence[str] = ("eng", "chi_sim"),
    psm: int = 3,
    timeout_s: float = 120.0,
    binary: str = "tesseract",
) -> str:
    """Tesseract's TSV output for an image (arguments as for ``recognise``).

    Raises:
        TesseractError: naming the image when Tesseract fails or times out.
    """
    check_languages(languages, binary)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    command = [binary, "stdin", "stdout", "-l", "+".join(languages), "--psm", str(psm), "tsv"]
    # One thread per Tesseract process: its OpenMP threads only contend on small shared machines.
    environment = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    try:
        completed = subprocess.run(
            command, input=buffer.getvalue(), capture_output=True, timeout=timeout_s, check=False, env=environment
        )
    except subprocess.TimeoutExpired:
        raise TesseractError(f"tesseract timed out after {timeout_s:g} s on {name}") from None
    except OSError as error:
        raise TesseractError(f"cannot run {binary!r} on {name} ({error}); install tesseract-ocr (make setup)") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise TesseractError(f"tesseract failed on {name} (exit {completed.returncode}): {message}")
    return completed.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class RecognisedWord:
    """One word of Tesseract's TSV: its text, confidence (0-100), box ``left, top, right, bottom`` and line key."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    line_key: tuple[str, str, str, str]


def tsv_words(tsv: str, min_word_confidence: float = 30.0) -> list[RecognisedWord]:
    """The word rows of Tesseract's TSV output that have text, a box and enough confidence, in order."""
    words = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != _WORD_LEVEL:
            continue
        text = (row.get("text") or "").strip()
        try:
            confidence = float(row["conf"])
            left, top, width, height = (int(row[key]) for key in ("left", "top", "width", "height"))
        except (KeyError, TypeError, ValueError):
            continue
        if not text or confidence < min_word_confidence or width <= 0 or height <= 0:
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        words.append(RecognisedWord(text, confidence, (left, top, left + width, top + height), key))
    return words


def parse_tsv(tsv: str, min_word_confidence: float = 30.0) -> list[RecognisedLine]:
    """Group the word rows of Tesseract's TSV output into lines.

    Args:
        tsv: Tesseract's ``tsv`` output (a header row, then level, page_num, block_num, par_num,
            line_num, word_num, left, top, width, height, conf, text).
        min_word_confidence: words with a lower confidence (0-100) are left out.

    Returns:
        One line per (page, block, paragraph, line) with at least one kept word: its text, the
        union box of its words in pixels, the language of its text and its mean word confidence.
    """
    lines: dict[tuple[str, str, str, str], list[tuple[str, float, tuple[int, int, int, int]]]] = {}
    for word in tsv_words(tsv, min_word_confidence):
        lines.setdefault(word.line_key, []).append((word.text, word.confidence, word.box))
    recognised = []
    for words in lines.values():
        text = join_words([word for word, _, _ in words])
        boxes = [box for _, _, box in words]
        box = Box(
            x1=float(min(b[0] for b in boxes)),
            y1=float(min(b[1] for b in boxes)),
            x2=float(max(b[2] for b in boxes)),
            y2=float(max(b[3] for b in boxes)),
            label="Text",
        )
        confidence = sum(conf for _, conf, _ in words) / len(words) / 100.0
        line = OcrLine(text=text, box=box, language=detect_language(text))
        recognised.append(RecognisedLine(line=line, confidence=round(min(max(confidence, 0.0), 1.0), 4)))
    return recognised


def join_words(words: list[str]) -> str:
    """Words joined by spaces, except between CJK characters, which Chinese writes without them."""
    text = words[0]
    for word in words[1:]:
        text += word if _is_cjk(text[-1]) or _is_cjk(word[0]) else " " + word
    return text


def _is_cjk(character: str) -> bool:
    return any(start <= character <= end for start, end in zip(_CJK_START, _CJK_END, strict=True))
