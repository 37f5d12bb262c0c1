"""The release DAG: it parses cleanly and runs end to end with dag.test()."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support.recipes import DEMO_REAL_ONLY_RECIPE

from vlforge.augment.replay import check_replay
from vlforge.demo import prepare_demo


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "vlforge_release" in dagbag.dag_ids


@pytest.mark.parametrize("dag_id", ["vlforge_release", "vlforge_synthesize_scenes", "vlforge_evaluate", "vlforge_preannotate"])
def test_every_task_passes_its_value_on_as_one_xcom(dagbag, dag_id: str) -> None:
    # A task returning a dict would otherwise push each of its keys as an XCom too (inferred multiple outputs).
    assert [task.task_id for task in dagbag.get_dag(dag_id).tasks if task.multiple_outputs] == []


def test_release_dag_is_documented_tagged_and_retried(dagbag) -> None:
    dag = dagbag.get_dag("vlforge_release")
    assert set(dag.tags) == {"vlforge", "release"}
    assert "vlforge_release" in dag.doc_md
    assert [task.task_id for task in dag.topological_sort()] == [
        "prepare",
        "ingest",
        "gate_ingest",
        "measure_agreement",
        "gate_quality",
        "curate",
        "gate_curate",
        "plan_compose",
        "compose",
        "merge_compose",
        "plan_augment",
        "augment",
        "merge_augment",
        "gate_augment",
        "plan_synth",
        "synthesize",
        "merge_synth",
        "gate_synth",
        "release",
        "compare_and_promote",
    ]
    assert type(dag.get_task("augment")).__name__.endswith("MappedOperator")  # one task instance per shard
    assert type(dag.get_task("compose")).__name__.endswith("MappedOperator")
    assert dag.get_task("ingest").retries == 1
    # A recipe error or a gate is deterministic: retrying only delays the failure.
    assert dag.get_task("prepare").retries == 0
    assert dag.get_task("gate_ingest").retries == 0
    assert dag.get_task("gate_quality").retries == 0
    assert dag.get_task("gate_curate").retries == 0
    assert dag.get_task("gate_augment").retries == 0
    assert dag.get_task("gate_synth").retries == 0
    assert type(dag.get_task("synthesize")).__name__.endswith("MappedOperator")  # one Chromium per shard
    assert set(dag.params.keys()) == {
        "source",
        "source_format",
        "images_root",
        "dataset",
        "recipe",
        "seed",
        "phase",
        "force_promote",
        "promoted_by",
    }
    assert dag.params["force_promote"] is False
    # Every task alerts on failure (gates included), in its own process with its exception.
    assert all(task.has_on_failure_callback for task in dag.tasks)


def test_order_comes_from_the_run_description_each_task_passes_on(dagbag) -> None:
    dag = dagbag.get_dag("vlforge_release")
    upstream = {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks}
    assert upstream == {
        "prepare": [],
        "ingest": ["prepare"],
        "gate_ingest": ["ingest"],
        "measure_agreement": ["gate_ingest"],
        "gate_quality": ["measure_agreement"],
        "curate": ["gate_quality"],
        "gate_curate": ["curate"],
        "plan_compose": ["gate_curate"],
        "compose": ["gate_curate", "plan_compose"],
        "merge_compose": ["compose", "gate_curate"],
        "plan_augment": ["merge_compose"],
        "augment": ["merge_compose", "plan_augment"],
        "merge_augment": ["augment", "merge_compose"],
        "gate_augment": ["merge_augment"],
        "plan_synth": ["prepare"],
        "synthesize": ["plan_synth", "prepare"],
        "merge_synth": ["prepare", "synthesize"],
        "gate_synth": ["merge_synth"],
        "release": ["gate_augment", "gate_synth"],
        "compare_and_promote": ["gate_augment", "release"],
    }


def _run(dagbag, conf: dict[str, object]):  # noqa: ANN202
    return dagbag.get_dag("vlforge_release").test(run_conf=conf)


def test_demo_release_end_to_end(dagbag, vlforge_home: Path, tmp_path: Path) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    prepare_demo(tmp_path / "demo")  # the folder of both demo exports, as `make demo` releases it
    run = _run(dagbag, {"source": str(tmp_path / "demo"), "source_format": "label_studio", "dataset": "dagtest", "recipe": "demo"})
    assert run.state == DagRunState.SUCCESS

    releases = vlforge_home / "releases" / "dagtest"
    version = (releases / "LATEST").read_text().strip()
    folder = releases / version
    release = json.loads((folder / "RELEASE.json").read_text())
    assert release["version"] == version and release["content_hash"].startswith(version)
    counts = release["counts"]
    # 14 annotation rows: 1 quarantined (its image is gone); of 9 items, 8 are released and the
    # rocket, whose second round missed a launch tower, goes to review with both of its rounds.
    assert (counts["rows_in"], counts["rows_ok"], counts["rows_quarantined"]) == (14, 13, 1)
    assert (counts["items_released"], counts["items_in_review"], counts["rounds_in_review"]) == (8, 1, 2)
    assert counts["rounds_superseded"] == 3 and counts["review_tasks"] == 1
    # Curation keeps all eight demo samples (the second project's captions of the cat and the coffee
    # differ from their first rounds', so none is a duplicate); the demo recipe's 70/15/15 puts the cat's
    # three, the coffee's two and one more in train, 1 in val, 1 in test; phase "main" adds one augmented
    # copy of each of the 6 train samples; compose makes one multi-turn (the cat's captions), two
    # multi-task (the cat's and the coffee's boxes with their captions) and one multi-image sample;
    # synthesis adds 15 train samples: 2 receipts and their 2 degraded copies (OCR), 2 phone screens with
    # 1 grounding question, 1 action and a trajectory each (2 grounding, 9 GUI actions).
    assert counts["curate"] == {"samples_in": 8, "kept": 8, "dropped": 0, "dropped_by_reason": {}}
    assert counts["augment"]["phase"] == "main" and counts["augment"]["augmented"] == 6
    assert {rule: made["composed"] for rule, made in counts["compose"]["by_rule"].items()} == {
        "multi_image": 1,
        "multi_task": 2,
        "multi_turn": 1,
    }
    assert counts["by_task_type"] == {"caption": 9, "grounding": 10, "gui_action": 9, "ocr": 5}
    assert counts["by_split"] == {"train": 31, "val": 1, "test": 1} and counts["samples"] == 33
    assert (counts["synthetic"], counts["synthetic_share"]) == (15, 15 / 33)
    assert release["metrics"]["ocr_accuracy"] == 1.0 and release["metrics"]["action_completeness"] is None
    assert release["metrics"]["by_task_type"]["grounding"]["iou_agreement"] == 0.858406  # stored at 6 decimals
    assert [gate["name"] for gate in release["gates"]] == ["augment", "curate", "ingest", "quality", "synth"]
    assert all(gate["passed"] for gate in release["gates"])
    assert release["recipe"]["name"] == "demo" and release["parent_version"] is None
    assert release["numerics"]["metric_decimals"] == 6
    # the demo's augmented copies and degraded receipts
    assert list(release["numerics"]["cpu_dependent_outputs"]) == ["augment.images", "synth.documents.degrade"]
    manifest = pq.read_table(folder / "manifest.parquet")
    assert manifest.num_rows == 33
    assert sorted(set(manifest.column("split").to_pylist())) <= ["test", "train", "val"]
    copies = [row["sample_id"] for row in manifest.to_pylist() if any(op["op"] == "parent" for op in row["lineage"])]
    assert len(copies) == 6 and all(check_replay(folder, copy).ok for copy in copies)  # byte for byte
    agreement = pq.read_table(folder / "agreement.parquet").to_pandas()
    assert sorted(agreement["status"]) == ["released"] * 8 + ["review"]
    (review_task,) = json.loads((folder / "review" / "review_tasks.json").read_text())
    assert review_task["meta"]["below_threshold"]["iou_agreement"] == {"value": 0.6667, "threshold": 0.85}
    assert (folder / "images" / review_task["data"]["image"].removeprefix("/data/local-files/?d=images/")).is_file()
    quarantined = [json.loads(line) for line in (folder / "quarantine.jsonl").read_text().splitlines()]
    assert [entry["record_id"] for entry in quarantined] == ["task 7/annotation 111"]
    assert (folder / "gx" / "index.html").is_file()
    report = (folder / "report.html").read_text()
    assert "report_assets/" in report and "ingest" in report and "iou_agreement" in report
    assert "6 augmented copies of the train split" in report and "Curation kept 8 of 8 samples" in report
    assert "Composed 4 samples from the train split (multi_image 1, multi_task 2, multi_turn 1); budgets dropped: none." in report
    for files in release["exports"].values():
        assert all((folder / "exports" / name).is_file() for name in files)
    # One LLaMA-Factory file per split and box convention (0-1000, Qwen2.5-VL pixels), all in one dataset_info.json.
    info = json.loads((folder / "exports" / "llamafactory" / "dataset_info.json").read_text())
    splits = [split for split in ("train", "val", "test") if counts["by_split"][split]]
    assert list(info) == [f"dagtest_{split}{variant}" for split in splits for variant in ("", "_qwen2_5_vl")]
    sharegpt = {
        split: json.loads((folder / "exports" / "llamafactory" / f"dagtest_{split}.json").read_text()) for split in splits
    }
    assert {split: len(records) for split, records in sharegpt.items()} == {split: counts["by_split"][split] for split in splits}
    assert sum(len(records) for records in sharegpt.values()) == 33
    first_image = folder / "exports" / "llamafactory" / sharegpt[splits[0]][0]["images"][0]
    assert first_image.resolve().is_file()

    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).one()
        assert event.asset.uri.startswith("vlforge://dagtest")
    # The event comes from the promotion of the dataset's first release.
    assert event.extra["version"] == version and event.extra["content_hash"] == release["content_hash"]
    assert event.extra["outcome"] == "first" and event.extra["metrics"]["ocr_accuracy"] == 1.0
    assert event.extra["counts"]["samples"] == 33
    assert (releases / "current").resolve() == folder.resolve()
    states = {instance.task_id: instance.state for instance in run.get_task_instances()}
    assert states["curate"] == states["compare_and_promote"] == "success"
    with create_session() as session:
        keys = set(session.scalars(select(XComModel.key).where(XComModel.run_id == run.run_id)))
    assert keys == {"return_value"}  # each task's value as one XCom, not one more per key of a dict


def test_failed_gate_fails_the_run_and_leaves_the_previous_release(dagbag, vlforge_home: Path, tmp_path: Path) -> None:
    from airflow.utils.state import DagRunState

    export = prepare_demo(tmp_path / "good")
    conf = {"source_format": "label_studio", "dataset": "gated", "recipe": DEMO_REAL_ONLY_RECIPE}
    assert _run(dagbag, {"source": str(export), **conf}).state == DagRunState.SUCCESS
    releases = vlforge_home / "releases" / "gated"
    before = sorted(path.name for path in releases.iterdir())

    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "good", broken)
    shutil.rmtree(broken / "skimage")  # every image gone: everything is quarantined
    run = _run(dagbag, {"source": str(broken / export.name), **conf})

    assert run.state == DagRunState.FAILED
    states = {instance.task_id: instance.state for instance in run.get_task_instances()}
    assert states == {
        "prepare": "success",
        "ingest": "success",
        "gate_ingest": "failed",
        "measure_agreement": "upstream_failed",
        "gate_quality": "upstream_failed",
        "curate": "upstream_failed",
        "gate_curate": "upstream_failed",
        "plan_compose": "upstream_failed",
        "compose": "upstream_failed",
        "merge_compose": "upstream_failed",
        "plan_augment": "upstream_failed",
        "augment": "upstream_failed",
        "merge_augment": "upstream_failed",
        "gate_augment": "upstream_failed",
        # synthesis reads nothing ingest writes: it runs (this recipe plans no shard) and passes
        "plan_synth": "success",
        "synthesize": "skipped",
        "merge_synth": "success",
        "gate_synth": "success",
        "release": "upstream_failed",
        "compare_and_promote": "upstream_failed",
    }
    assert sorted(path.name for path in releases.iterdir()) == before


@pytest.mark.parametrize(
    "conf",
    [
        {"source": "", "source_format": "label_studio"},
        {"source": "x", "source_format": "pdf"},
        {"source": "x", "images_root": [""]},
        {"source": "x", "images_root": [7]},
    ],
)
def test_params_are_validated(dagbag, conf: dict[str, str]) -> None:
    import copy

    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.get_dag("vlforge_release").params)
    with pytest.raises(ParamValidationError):
        params.update(conf)
        params.validate()


def test_valid_params_pass_validation(dagbag) -> None:
    import copy

    params = copy.deepcopy(dagbag.get_dag("vlforge_release").params)
    params.update({"source": "/data/export.json", "source_format": "coco", "dataset": "shop", "seed": 7})
    assert params.validate()["seed"] == 7
    for images_root in ("/data/images", ["/data/images", "/srv/label-studio-files"], None):
        params.update({"images_root": images_root})
        assert params.validate()["images_root"] == images_root


def test_a_misspelt_op_parameter_fails_the_run_in_its_first_task(dagbag, vlforge_home: Path, tmp_path: Path) -> None:
    from airflow.utils.state import DagRunState

    recipe = tmp_path / "typo.yaml"
    recipe.write_text("augment:\n  ops:\n    - rotate: {probability: 0.2, angle_rnage: [-5, 5]}\n")
    export = prepare_demo(tmp_path / "demo")
    run = _run(dagbag, {"source": str(export), "source_format": "label_studio", "dataset": "typo", "recipe": str(recipe)})

    assert run.state == DagRunState.FAILED
    states = {instance.task_id: instance.state for instance in run.get_task_instances()}
    assert states["prepare"] == "failed" and states["ingest"] == "upstream_failed"
    assert not (vlforge_home / "releases" / "typo").exists()
    assert not list((vlforge_home / "runs").glob("typo/*/ingested.parquet"))
