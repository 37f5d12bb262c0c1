"""Recipes: the default loads, wrong keys are named with what is allowed, per-task-type thresholds override."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.config import RECIPES_DIR, QualityConfig, Recipe, RecipeError, Thresholds, load_recipe
from vlforge.quality.config import MINILM


def write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_recipe_loads_with_its_values() -> None:
    recipe = load_recipe("default")
    assert recipe.name == "default"
    assert recipe.ingest.max_quarantine_share == 0.2
    assert recipe.ingest.box_tolerance_px == 0.5
    assert recipe.export.formats == (
        "qwen_vl_chatml", "qwen2_5_vl", "qwen3_vl", "llamafactory", "ms_swift", "coco", "csv", "parquet", "webdataset"
    )
    resize = recipe.export.qwen2_5_vl_resize
    assert (resize.factor, resize.min_pixels, resize.max_pixels) == (28, 4 * 28 * 28, 16384 * 28 * 28)  # 3136, 12845056
    assert recipe.quality.dataset == Thresholds(
        iou_agreement=0.85, ocr_accuracy=0.95, action_completeness=0.90, bertscore_f1=None
    )
    # BERTScore is held to the threshold calibrated for the encoder that scores it
    assert recipe.quality.text_encoders == (MINILM,) == Recipe(name="default").quality.text_encoders
    assert recipe.quality.bertscore_threshold("per_sample", "caption", "all-MiniLM-L6-v2") == 0.3681
    assert recipe.quality.per_sample == recipe.quality.dataset
    assert recipe.quality.per_task_type == {}
    assert recipe.report.samples_drawn == 6


def test_default_recipe_by_path_equals_by_name() -> None:
    assert load_recipe(str(RECIPES_DIR / "default.yaml")) == load_recipe("default")


def test_content_hash_changes_with_content(tmp_path: Path) -> None:
    default = load_recipe("default")
    stricter = load_recipe(str(write(tmp_path, "name: default\nquality:\n  dataset:\n    iou_agreement: 0.9\n")))
    assert default.content_hash() == load_recipe("default").content_hash()
    assert len(default.content_hash()) == 64
    assert stricter.content_hash() != default.content_hash()


def test_unknown_top_level_key_lists_allowed_keys_and_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "exprt:\n  formats: [qwen3_vl]\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "exprt: unknown key; allowed here: ['augment', 'compose', 'curate', 'evaluate', 'export', 'ingest', 'name', 'preannotate', 'prompts', 'quality', 'release', 'report', 'scenes', 'synth']" in message


def test_unknown_nested_key_lists_the_keys_of_its_section(tmp_path: Path) -> None:
    path = write(tmp_path, "quality:\n  dataset:\n    iou_agreemnt: 0.9\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert (
        "quality.dataset.iou_agreemnt: unknown key; allowed here: "
        "['action_completeness', 'bertscore_f1', 'iou_agreement', 'ocr_accuracy']"
    ) in message


def test_unknown_key_inside_per_task_type_lists_threshold_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "quality:\n  per_task_type:\n    ocr:\n      ocr_acuracy: 0.98\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(str(path))
    assert (
        "quality.per_task_type.ocr.ocr_acuracy: unknown key; allowed here: "
        "['action_completeness', 'bertscore_f1', 'iou_agreement', 'ocr_accuracy']"
    ) in str(raised.value)


def test_wrong_value_names_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "export:\n  formats: [qwen4_vl]\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "export.formats.0 = 'qwen4_vl'" in message
    assert "'llamafactory', 'ms_swift', 'coco', 'csv', 'parquet' or 'webdataset'" in message


def test_threshold_out_of_range_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "quality:\n  per_sample:\n    iou_agreement: 1.5\n")
    with pytest.raises(RecipeError, match=r"quality\.per_sample\.iou_agreement = 1\.5"):
        load_recipe(str(path))


def test_unknown_task_type_in_per_task_type_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "quality:\n  per_task_type:\n    poem:\n      bertscore_f1: 0.5\n")
    with pytest.raises(RecipeError, match="'caption', 'vqa', 'grounding', 'ocr', 'gui_action' or 'video_event'"):
        load_recipe(str(path))


def test_unknown_recipe_name_lists_known_recipes() -> None:
    with pytest.raises(RecipeError, match=r"recipe 'no_such_recipe' not found .*known recipes: \[.*'default'.*\]"):
        load_recipe("no_such_recipe")


def test_per_task_type_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "quality:\n"
        "  dataset:\n    ocr_accuracy: 0.9\n"
        "  per_task_type:\n"
        "    ocr:\n      ocr_accuracy: 0.98\n"
        "    caption:\n      bertscore_f1: 0.5\n",
    )
    quality = load_recipe(str(path)).quality
    # OCR: ocr_accuracy from the override at both levels, the rest from each level
    assert quality.thresholds("dataset", "ocr") == Thresholds(
        iou_agreement=0.85, ocr_accuracy=0.98, action_completeness=0.90, bertscore_f1=None
    )
    assert quality.thresholds("per_sample", "ocr").ocr_accuracy == 0.98
    # caption: BERTScore held to 0.5 whichever encoder scores it, nothing else changed
    assert quality.thresholds("dataset", "caption") == Thresholds(
        iou_agreement=0.85, ocr_accuracy=0.9, action_completeness=0.90, bertscore_f1=0.5
    )
    assert quality.bertscore_threshold("dataset", "caption", "all-MiniLM-L6-v2") == 0.5
    assert quality.bertscore_threshold("dataset", "ocr", "all-MiniLM-L6-v2") == 0.3681
    assert quality.bertscore_threshold("dataset", "ocr", None) is None  # unscored: nothing to hold it to
    # a task type without an override gets its level unchanged
    assert quality.thresholds("dataset", "grounding") == quality.dataset
    assert quality.thresholds("per_sample", "grounding") == quality.per_sample


def test_quality_thresholds_without_overrides() -> None:
    quality = QualityConfig()
    assert quality.thresholds("dataset", "ocr") is quality.dataset
    assert quality.thresholds("per_sample", "vqa") is quality.per_sample


def test_recipe_name_defaults_to_file_stem(tmp_path: Path) -> None:
    recipe = load_recipe(str(write(tmp_path, "", name="night_run.yaml")))
    assert recipe == Recipe(name="night_run")


def test_text_encoders_need_unique_names_and_known_languages(tmp_path: Path) -> None:
    entry = "    - {name: bert, model_path: /m, languages: [%s], bertscore_f1: {per_sample: 0.5}}\n"
    twice = write(tmp_path, "quality:\n  text_encoders:\n" + entry % "zh" + entry % "ja")
    with pytest.raises(RecipeError, match=r"quality.text_encoders = .*encoder names must be unique.*\['bert'\]"):
        load_recipe(str(twice))
    unknown = write(tmp_path, "quality:\n  text_encoders:\n" + entry % "xx", "unknown.yaml")
    with pytest.raises(RecipeError, match=r"quality.text_encoders.0.languages.0 = 'xx': Input should be 'en', 'zh', 'ja' or 'ko'"):
        load_recipe(str(unknown))


def test_evaluate_section_is_validated_and_left_out_of_the_content_hash(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"evaluate.tolerence: unknown key; allowed here: \[.*'tolerance'.*\]"):
        load_recipe(str(write(tmp_path, "evaluate:\n  tolerence: {recall@5: 0.1}\n")))
    stricter = load_recipe(str(write(tmp_path, "name: default\nevaluate:\n  tolerance: {recall@5: 0.01}\n")))
    assert stricter.evaluate.tolerance_for("recall@5") == 0.01
    assert stricter.content_hash() == load_recipe("default").content_hash()
