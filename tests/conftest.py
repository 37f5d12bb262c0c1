"""Shared test fixtures: the reference files in ../shared/fixtures, a fresh VLFORGE_HOME, tiny Qwen-VL model folders."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from support.tiny_qwen_vl import Generation, build_tiny_qwen_vl

from vlforge.config import Recipe, load_recipe
from vlforge.demo import prepare_demo
from vlforge.store import ImageStore

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = REPO.parent / "shared" / "fixtures"
# Every test in these folders starts Airflow or needs a database server.
INTEGRATION_FOLDERS = ("dags", "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).parts[0] in INTEGRATION_FOLDERS:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"reference fixtures missing at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_qwen_vl(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Generation], Path]:
    """A function that returns the tiny random Qwen-VL folder of a generation, building it on first request (offline, seconds)."""
    folders: dict[Generation, Path] = {}

    def folder(generation: Generation) -> Path:
        if generation not in folders:
            folders[generation] = build_tiny_qwen_vl(tmp_path_factory.mktemp(f"tiny_{generation}"), generation)
        return folders[generation]

    return folder


@pytest.fixture
def recipe() -> Recipe:
    return load_recipe("default")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store")


def _change_characters(text: str, share: float) -> str:
    """``text`` with ``ceil(share * len)`` characters replaced at evenly spaced positions."""
    count = math.ceil(share * len(text))
    positions = {round(index * len(text) / count) for index in range(count)}
    return "".join(("#" if char != "#" else "%") if index in positions else char for index, char in enumerate(text))


def inject_disagreement(export: Path, target: Path) -> Path:
    """A copy of a Label Studio export whose second annotation round disagrees with the first.

    Every rectangle of round 2 moves right by 30% of its width, and every region's
    transcription has 10% of its characters changed; round 1 is untouched.
    """
    tasks = json.loads(export.read_text(encoding="utf-8"))
    for task in tasks:
        for annotation in task["annotations"][1:2]:
            for result in annotation["result"]:
                value = result["value"]
                if "width" in value:
                    value["x"] = min(value["x"] + 0.3 * value["width"], 100 - value["width"])
                if result["type"] == "textarea" and "x" in value:
                    value["text"] = [_change_characters(text, 0.10) for text in value["text"]]
    target.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.fixture
def demo_export(tmp_path: Path) -> Path:
    """The demo dataset (real photographs, two rounds on some images) in a fresh folder."""
    return prepare_demo(tmp_path / "demo")


@pytest.fixture
def disagreeing_demo_export(demo_export: Path) -> Path:
    """The demo dataset with injected disagreement between its rounds, beside the demo images."""
    return inject_disagreement(demo_export, demo_export.with_name("disagreeing_export.json"))
