"""The prepare task: the whole recipe validated before ingest, frozen into the run folder, one run description."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlforge.config import Recipe, RecipeError, load_recipe
from vlforge.prepare import prepare_run
from vlforge.run import RunDescription


def _recipe_file(folder: Path, ops: str) -> Path:
    """A recipe whose augment ops are the warmup phase's crop and then ``ops``."""
    path = folder / "shop.yaml"
    path.write_text(f"augment:\n  ops:\n    - random_resized_crop: {{probability: 0.7}}\n{ops}", encoding="utf-8")
    return path


def test_a_misspelt_op_parameter_names_the_file_the_key_and_the_allowed_keys(tmp_path: Path) -> None:
    path = _recipe_file(tmp_path, "    - jpeg: {probability: 0.3}\n    - rotate: {probability: 0.2, angle_rnage: [-5, 5]}\n")
    with pytest.raises(RecipeError) as error:
        prepare_run(tmp_path / "home", "shop", "run1", str(path))
    assert str(error.value) == (
        f"recipe {path} is invalid:\n"
        "  augment.ops[2].rotate.angle_rnage: unknown key; allowed here: "
        "['angle_range', 'angles', 'min_visibility', 'probability', 'task_types']"
    )
    assert not (tmp_path / "home").exists()


def test_an_unknown_op_and_a_bad_value_are_both_listed(tmp_path: Path) -> None:
    path = _recipe_file(tmp_path, "    - rotate: {angle_range: [10, -10]}\n    - swirl: {probability: 0.1}\n")
    with pytest.raises(RecipeError) as error:
        prepare_run(tmp_path / "home", "shop", "run1", str(path))
    lines = str(error.value).splitlines()
    assert lines[0] == f"recipe {path} is invalid:"
    assert lines[1] == (
        "  augment.ops[1].rotate = {'angle_range': [10, -10]}: Value error, angle_range = (10.0, -10.0): low must not exceed high"
    )
    assert lines[2].startswith("  augment.ops[2].swirl: unknown op; known ops: ['color_jitter', ")
    assert len(lines) == 3


def test_an_undefined_phase_fails_before_ingest(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"the run's phase 'cooldown' is not defined; defined: \['finetune', 'main', 'warmup'\]"):
        prepare_run(tmp_path, "shop", "run1", "default", phase="cooldown")


def test_the_recipe_is_frozen_so_editing_the_yaml_mid_run_changes_nothing(tmp_path: Path) -> None:
    path = _recipe_file(tmp_path, "    - jpeg: {probability: 0.3}\n")
    frozen = load_recipe(str(path))
    run = prepare_run(tmp_path / "home", "shop", "run1", str(path), source="/data/x.json", seed=7, phase="warmup")
    _recipe_file(tmp_path, "    - jpeg: {probability: 0.9}\n")
    again = RunDescription.from_json(json.loads(json.dumps(run.to_json())))
    assert again == run
    assert again.recipe == frozen and again.recipe.augment.op_specs()[1].probability == 0.3
    assert run.run_dir.recipe == tmp_path / "home" / "runs" / "shop" / "run1" / "recipe.json"
    assert (again.seed, again.phase, again.source, again.store_dir) == (7, "warmup", "/data/x.json", tmp_path / "home/store/images")


def test_the_default_recipe_equals_the_code_defaults() -> None:
    assert load_recipe("default") == Recipe(name="default")
    assert load_recipe("default").content_hash() == Recipe(name="default").content_hash()


def test_the_default_flip_never_mirrors_ocr_pages_or_gui_screens() -> None:
    (flip,) = [spec for spec in Recipe(name="any").augment.op_specs() if spec.name == "horizontal_flip"]
    assert flip.applies_to("caption") and flip.applies_to("grounding")
    assert not flip.applies_to("ocr") and not flip.applies_to("gui_action")


def test_a_local_text_encoder_is_checked_before_ingest(tmp_path: Path) -> None:
    """A recipe naming a missing encoder folder, or more layers than the folder's model has, fails in prepare."""
    model = tmp_path / "zh-bert"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 4}), encoding="utf-8")
    path = tmp_path / "zh.yaml"
    entry = "    - {name: %s, model_path: '%s', num_layers: %d, languages: [zh], bertscore_f1: {per_sample: 0.5}}\n"
    path.write_text("quality:\n  text_encoders:\n" + entry % ("ok", model, 4) + entry % ("deep", model, 9)
                    + entry % ("gone", tmp_path / "missing", 2), encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        prepare_run(tmp_path / "home", "zh", "run1", str(path))
    assert str(error.value) == (
        f"recipe {path} is invalid:\n"
        f"  quality.text_encoders[1].num_layers = 9: {model} has 4 layers\n"
        f"  quality.text_encoders[2].model_path = '{tmp_path / 'missing'}': not a Hugging Face model folder (no config.json)"
    )


def test_the_evaluate_clip_folder_is_checked_before_ingest(tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text(f"evaluate:\n  clip_model_path: '{tmp_path / 'no-clip'}'\n", encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        prepare_run(tmp_path / "home", "shop", "run1", str(path))
    assert str(error.value) == (
        f"recipe {path} is invalid:\n"
        f"  evaluate.clip_model_path = '{tmp_path / 'no-clip'}': not a transformers CLIP folder (no config.json)"
    )
