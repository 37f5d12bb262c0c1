"""The tiny Qwen2-VL folder (``tiny_qwen_vl``, built once per test session, lives in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.tiny_qwen_vl import Generation


@pytest.fixture(scope="session")
def tiny_qwen(tiny_qwen_vl: Callable[[Generation], Path]) -> Path:
    """The tiny Qwen2-VL folder."""
    return tiny_qwen_vl("qwen2_vl")
