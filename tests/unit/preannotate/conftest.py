"""A tiny random Qwen2-VL model folder, built once per test session (offline, a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.preannotate.tiny_qwen import build_tiny_qwen2_vl


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny_qwen2_vl"))
