"""The scenes DAG: it parses, its tasks, retries and Params are as documented, and it runs end to end with dag.test()
on tiny random Stable Diffusion, CLIP and Qwen2-VL models built offline."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from support.tiny_qwen_vl import build_tiny_qwen_vl
from support.tiny_scenes import PROMPTS, build_tiny_clip, build_tiny_stable_diffusion, one_torch_thread



def test_scenes_dag_is_documented_tagged_and_retried(dagbag) -> None:  # noqa: ANN001
    assert not [path for path in dagbag.import_errors if path.endswith("vlforge_synthesize_scenes.py")]
    dag = dagbag.get_dag("vlforge_synthesize_scenes")
    assert set(dag.tags) == {"vlforge", "synthesize"}
    assert "vlforge_synthesize_scenes" in dag.doc_md and "ground truth" in dag.doc_md and "allow_unreviewed" in dag.doc_md
    assert [task.task_id for task in dag.topological_sort()] == ["prepare", "plan", "render", "write_review"]
    assert {task.task_id: task.retries for task in dag.tasks} == {"prepare": 0, "plan": 0, "render": 1, "write_review": 1}
    assert dag.get_task("render").upstream_task_ids == {"prepare", "plan"}
    assert dag.get_task("write_review").upstream_task_ids == {"prepare", "render"}
    assert [outlet.name for outlet in dag.get_task("write_review").outlets] == ["vlforge_scene_review"]
    assert {name: dag.params[name] for name in dag.params} == {"dataset": "demo", "recipe": "default", "seed": 0}


@pytest.mark.parametrize("conf", [{"dataset": "../x"}, {"seed": -1}, {"seed": "one"}])
def test_params_are_validated(dagbag, conf: dict[str, object]) -> None:  # noqa: ANN001
    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.get_dag("vlforge_synthesize_scenes").params)
    with pytest.raises(ParamValidationError):
        params.update(conf)
        params.validate()


def test_a_recipe_without_scene_models_fails_in_prepare(dagbag) -> None:  # noqa: ANN001
    from airflow.utils.state import DagRunState

    run = dagbag.get_dag("vlforge_synthesize_scenes").test(run_conf={"dataset": "street"})
    assert run.state == DagRunState.FAILED
    states = {instance.task_id: instance.state for instance in run.get_task_instances()}
    assert states == {"prepare": "failed", "plan": "upstream_failed", "render": "upstream_failed", "write_review": "upstream_failed"}


@pytest.mark.slow
def test_scenes_end_to_end_with_tiny_models(dagbag, vlforge_home: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    from vlforge.layout import RunDir, run_folder_name

    words = sorted({word for prompt in PROMPTS for word in prompt.split()})
    recipe = tmp_path / "night_rain.yaml"
    scenes = {
        "prompts": list(PROMPTS),
        "images_per_prompt": 2,
        "width": 64,
        "height": 48,
        "steps": 2,
        "model_path": str(build_tiny_stable_diffusion(tmp_path / "tiny-sd", words)),
        "clip_model_path": str(build_tiny_clip(tmp_path / "tiny-clip", words)),
        "clip_threshold": -1.0,
    }
    vlm = {"model_path": str(build_tiny_qwen_vl(tmp_path / "tiny-qwen", "qwen2_vl")), "max_new_tokens": 16}
    recipe.write_text(yaml.safe_dump({"scenes": scenes, "preannotate": {"vlm": vlm}}), encoding="utf-8")

    with one_torch_thread():  # dag.test() runs every task in this process
        run = dagbag.get_dag("vlforge_synthesize_scenes").test(run_conf={"dataset": "street", "recipe": str(recipe), "seed": 1})
    assert run.state == DagRunState.SUCCESS
    states = {(instance.task_id, instance.map_index): instance.state for instance in run.get_task_instances()}
    assert states == {("prepare", -1): "success", ("plan", -1): "success", ("render", 0): "success", ("render", 1): "success", ("write_review", -1): "success"}

    run_dir = RunDir.of(vlforge_home, "street", run_folder_name(run.run_id))
    tasks = json.loads(run_dir.scene_review_tasks.read_text(encoding="utf-8"))
    assert [task["data"]["vlforge_scene"]["prompt"] for task in tasks] == [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]
    assert all((run_dir.scene_images / f"{task['meta']['sha256']}.png").is_file() for task in tasks)
    assert json.loads(run_dir.recipe.read_text(encoding="utf-8"))["scenes"]["prompts"] == list(PROMPTS)
    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).one()
        assert event.asset.name == "vlforge_scene_review"
    assert event.extra == {
        "review_file": str(run_dir.scene_review_tasks),
        "document_root": str(run_dir.scenes),
        "rendered": 4,
        "review_tasks": 4,
        "dropped_by_reason": {},
    }
