"""Which release a run evaluates: the Params, else the newest release asset event; a missing one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.evaluate.stage import prepare_evaluation, release_to_evaluate


def test_params_win_then_the_newest_event_names_the_release() -> None:
    events = [{"dataset": "shop", "version": "v1"}, {"dataset": "shop", "version": "v2"}]
    assert release_to_evaluate("demo", "current", events) == ("demo", "current")
    assert release_to_evaluate("", "current", events) == ("shop", "v2")
    with pytest.raises(ValueError, match="no dataset in the Params and no release asset event naming one"):
        release_to_evaluate("", "current", [{"outcome": "held"}])


def test_a_missing_release_lists_the_released_versions(tmp_path: Path) -> None:
    (tmp_path / "releases" / "shop" / "abc123").mkdir(parents=True)
    (tmp_path / "releases" / "shop" / "abc123" / "RELEASE.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"no release 'nope' to evaluate; released versions: \['abc123'\]"):
        prepare_evaluation(tmp_path, "shop", "nope", "run1")
    with pytest.raises(FileNotFoundError, match=r"no release 'current' to evaluate"):
        prepare_evaluation(tmp_path, "shop", "", "run1")


def test_a_backend_is_its_connection_else_the_recipes_entry_else_an_error_naming_both(tmp_path: Path) -> None:
    from vlforge.evaluate.model.config import ModelConfigError
    from vlforge.evaluate.stage import EvaluationRun, model_backend

    recipe = tmp_path / "mine.yaml"
    recipe.write_text(
        f"name: mine\nevaluate:\n  models:\n    local: {{kind: transformers, generation: qwen2_5_vl, model_path: '{tmp_path / 'qwen'}'}}\n",
        encoding="utf-8",
    )
    run = EvaluationRun(tmp_path, "demo", "v1", "run1", str(recipe), backends=("local", "endpoint"))
    assert model_backend(run, "local", None).model_path == str(tmp_path / "qwen")
    connection = {"host": "http://127.0.0.1:9/v1", "password": "key", "extra": '{"generation": "qwen3_vl", "served_model": "served"}'}
    endpoint = model_backend(run, "endpoint", connection)
    assert (endpoint.kind, endpoint.base_url, endpoint.api_key, endpoint.model_name) == ("openai", "http://127.0.0.1:9/v1", "key", "served")
    with pytest.raises(ModelConfigError, match=r"backend 'elsewhere': no Airflow connection of that name and no evaluate.models entry.*\['local'\]"):
        model_backend(run, "elsewhere", None)


def test_a_backend_name_that_is_no_folder_name_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="evaluator"):
        prepare_evaluation(tmp_path, "demo", "v1", "run1", backends=("../up",))
