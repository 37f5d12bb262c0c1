"""Tiny random Stable Diffusion, CLIP and Qwen2-VL folders built offline once per test session, and one scenes run of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.tiny_qwen_vl import build_tiny_qwen_vl
from support.tiny_scenes import PROMPTS, TinyModels, build_tiny_clip, build_tiny_stable_diffusion, generate_scenes, one_torch_thread

from vlforge.run import RunDescription


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    words = sorted({word for prompt in PROMPTS for word in prompt.split()})
    root = tmp_path_factory.mktemp("tiny_scene_models")
    return TinyModels(
        stable_diffusion=build_tiny_stable_diffusion(root / "tiny-sd", words),
        clip=build_tiny_clip(root / "tiny-clip", words),
        qwen=build_tiny_qwen_vl(root / "tiny-qwen2-vl", "qwen2_vl"),
    )


@pytest.fixture(scope="session", autouse=True)
def single_thread() -> Iterator[None]:
    """Session scope: set before the models are built and the scenes rendered."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> tuple[RunDescription, dict[str, Any]]:
    """Both prompts rendered twice, nothing dropped (threshold -1)."""
    return generate_scenes(tmp_path_factory.mktemp("scenes_home"), tiny_models, "all-kept")
