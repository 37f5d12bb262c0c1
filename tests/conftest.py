"""Shared test fixtures: the reference files in ../shared/fixtures and a fresh VLFORGE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.config import Recipe, load_recipe
from vlforge.store import ImageStore

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"reference fixtures missing at {FIXTURES}"
    return FIXTURES


@pytest.fixture
def recipe() -> Recipe:
    return load_recipe("default")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store")
