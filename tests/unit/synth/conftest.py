"""Shared fixtures of the synth tests: one Chromium per test module, skipped with the reason when absent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from vlforge.synth.browser import Browser, chromium_available


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = chromium_available()
    if missing:
        pytest.skip(missing)
    with Browser() as running:
        yield running


@pytest.fixture(scope="session")
def tesseract() -> None:
    from vlforge.preannotate.tesseract import TesseractError, check_languages

    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed (Debian tesseract-ocr; make setup)")
    try:
        check_languages(["eng", "chi_sim"])
    except TesseractError as error:
        pytest.skip(str(error))
