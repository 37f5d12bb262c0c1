"""Tiny random Stable Diffusion, CLIP and Qwen2-VL folders, built offline once per test session, and a recipe that names them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tiny_scenes import build_tiny_clip, build_tiny_stable_diffusion, one_torch_thread
from vlforge.config import Recipe
from vlforge.preannotate.config import PreannotateConfig, VlmConfig
from vlforge.preannotate.tiny_qwen import build_tiny_qwen2_vl
from vlforge.synth.scenes.config import ScenesConfig

PROMPTS = ("pedestrians on a rainy street at night", "a red car in thick fog")


@dataclass(frozen=True)
class TinyModels:
    stable_diffusion: Path
    clip: Path
    qwen: Path

    def recipe(self, **scenes: object) -> Recipe:
        """Two prompts, two 64x48 images each in two steps; ``scenes`` overrides any of that."""
        settings = {
            "prompts": PROMPTS,
            "images_per_prompt": 2,
            "width": 64,
            "height": 48,
            "steps": 2,
            "model_path": str(self.stable_diffusion),
            "clip_model_path": str(self.clip),
            "clip_threshold": -1.0,
        }
        vlm = VlmConfig(model_path=str(self.qwen), max_new_tokens=16)
        return Recipe(name="scenes", scenes=ScenesConfig(**(settings | scenes)), preannotate=PreannotateConfig(vlm=vlm))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    words = sorted({word for prompt in PROMPTS for word in prompt.split()})
    root = tmp_path_factory.mktemp("tiny_scene_models")
    return TinyModels(
        stable_diffusion=build_tiny_stable_diffusion(root / "tiny-sd", words),
        clip=build_tiny_clip(root / "tiny-clip", words),
        qwen=build_tiny_qwen2_vl(root / "tiny-qwen2-vl"),
    )


@pytest.fixture(scope="session", autouse=True)
def single_thread() -> Iterator[None]:
    """Session scope: set before the models are built and the scenes rendered."""
    with one_torch_thread():
        yield
