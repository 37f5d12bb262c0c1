"""The scene op and the scenes section, without models: seeded draws keyed by prompt, recipe errors named, prepare's checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from vlforge.config import Recipe, RecipeError
from vlforge.ingest.scene_tasks import scene_lineage
from vlforge.prepare import prepare_run
from vlforge.synth.scenes.config import ScenesConfig
from vlforge.synth.scenes.render import draw_scene, scene_rng

SETTINGS = ScenesConfig(width=64, height=48, steps=2, guidance_scale=5.0, negative_prompt="blurry")


def test_a_scene_is_drawn_from_the_run_seed_the_prompt_and_its_number() -> None:
    first = draw_scene("fog", SETTINGS, scene_rng(7, "fog", 0), "diffusers:x")
    assert first == draw_scene("fog", SETTINGS, scene_rng(7, "fog", 0), "diffusers:x")
    assert first == {
        "generator": "diffusers:x",
        "prompt": "fog",
        "seed": first["seed"],
        "params": {"width": 64, "height": 48, "steps": 2, "guidance_scale": 5.0, "negative_prompt": "blurry"},
    }
    others = {draw_scene(prompt, SETTINGS, scene_rng(seed, prompt, number), "d")["seed"] for seed, prompt, number in [(8, "fog", 0), (7, "rain", 0), (7, "fog", 1)]}
    assert len(others | {first["seed"]}) == 4
    assert all(0 <= seed < 2**31 for seed in others)


def test_a_drawn_scene_is_the_lineage_ingest_reads_back() -> None:
    scene = draw_scene("fog", SETTINGS, scene_rng(0, "fog", 0), "diffusers:x")
    lineage = scene_lineage({"data": {"image": "x.png", "vlforge_scene": scene}})
    assert lineage is not None and lineage.op == "scene" and lineage.seed == scene["seed"]
    assert scene_lineage({"data": {"image": "x.png"}}) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prompts": ["fog", "fog"]}, "each prompt may appear once (images_per_prompt sets how many images); repeated: ['fog']"),
        ({"prompts": ["fog", " "]}, "prompts at positions [1] are empty"),
        ({"width": 500}, "Input should be a multiple of 8"),
        ({"clip_threshold": 1.5}, "Input should be less than or equal to 1"),
        ({"allow_unreviewd": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_scene_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ScenesConfig(**settings)


def test_unreviewed_scenes_are_not_released_unless_a_recipe_says_so() -> None:
    assert ScenesConfig().allow_unreviewed is False


def test_prepare_for_scenes_names_every_missing_prompt_and_model(tmp_path: Path) -> None:
    (tmp_path / "clip").mkdir()
    recipe = Recipe(name="r", scenes=ScenesConfig(model_path=str(tmp_path / "nowhere"), clip_model_path=str(tmp_path / "clip")))
    prepare_run(tmp_path, "d", "release-run", recipe)  # a release run does not need the scene models
    with pytest.raises(RecipeError) as raised:
        prepare_run(tmp_path, "d", "scenes-run", recipe, scenes=True)
    assert str(raised.value).splitlines() == [
        "recipe <recipe r> is invalid:",
        "  scenes.prompts = []: name at least one scene to generate",
        f"  scenes.model_path = '{tmp_path / 'nowhere'}': not a diffusers Stable Diffusion folder (no model_index.json)",
        f"  scenes.clip_model_path = '{tmp_path / 'clip'}': not a transformers CLIP folder (no config.json)",
        "  preannotate.vlm.model_path = None: the scenes DAG needs a Qwen-VL folder that captions and boxes scenes",
    ]
    assert not (tmp_path / "runs" / "d" / "scenes-run" / "recipe.json").exists()
