"""Tiny random Qwen-VL model folders, one per generation, each built once per test session (offline, seconds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.tiny_qwen_vl import Generation, build_tiny_qwen_vl


@pytest.fixture(scope="session")
def tiny_qwen_vl(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Generation], Path]:
    """A function that returns the tiny model folder of a generation, building it on first request."""
    folders: dict[Generation, Path] = {}

    def folder(generation: Generation) -> Path:
        if generation not in folders:
            folders[generation] = build_tiny_qwen_vl(tmp_path_factory.mktemp(f"tiny_{generation}"), generation)
        return folders[generation]

    return folder


@pytest.fixture(scope="session")
def tiny_qwen(tiny_qwen_vl: Callable[[Generation], Path]) -> Path:
    """The tiny Qwen2-VL folder."""
    return tiny_qwen_vl("qwen2_vl")
