"""The pre-annotation DAG: it parses cleanly and runs end to end with dag.test() on real images,
real Tesseract and a tiny random Qwen2-VL model built offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.tiny_qwen_vl import build_tiny_qwen_vl

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
IMAGES = {
    "books/paragraph.png": "debian_opencv_doc_4.6.0+dfsg-12/data/imageTextN.png",
    "phones/购物车.jpg": "qwen25vl_cookbook_gui/assets/agent_function_call/mobile_zh_example.jpg",
    "photos/chelsea.png": "images_from_wheels/skimage/chelsea.png",
}


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen_vl(tmp_path_factory.mktemp("tiny_qwen2_vl"), "qwen2_vl")


def test_preannotate_dag_is_documented_tagged_and_retried(dagbag) -> None:  # noqa: ANN001
    assert not [path for path in dagbag.import_errors if path.endswith("vlforge_preannotate.py")]
    dag = dagbag.get_dag("vlforge_preannotate")
    assert set(dag.tags) == {"vlforge", "preannotate"}
    assert "vlforge_preannotate" in dag.doc_md and "LOCAL_FILES_DOCUMENT_ROOT" in dag.doc_md
    assert [task.task_id for task in dag.topological_sort()] == ["list_images", "preannotate", "emit"]
    assert {task.task_id: task.retries for task in dag.tasks} == {"list_images": 0, "preannotate": 1, "emit": 1}
    assert set(dag.params.keys()) == {"images_dir", "output", "languages", "vlm_model_path", "recipe"}


@pytest.mark.parametrize("conf", [{"images_dir": ""}, {"images_dir": "/x", "languages": []}, {"images_dir": "/x", "languages": ["eng;rm"]}])
def test_params_are_validated(dagbag, conf: dict[str, object]) -> None:  # noqa: ANN001
    import copy

    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.get_dag("vlforge_preannotate").params)
    with pytest.raises(ParamValidationError):
        params.update(conf)
        params.validate()


def test_preannotate_end_to_end_with_tesseract_and_the_tiny_vlm(dagbag, vlforge_home: Path, tmp_path: Path, tiny_qwen: Path) -> None:  # noqa: ANN001
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    from vlforge.layout import run_folder_name

    images = tmp_path / "images"
    for target, source in IMAGES.items():
        (images / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / source, images / target)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("preannotate:\n  shard_size: 2\n  vlm:\n    max_new_tokens: 16\n")

    conf = {"images_dir": str(images), "vlm_model_path": str(tiny_qwen), "languages": ["eng", "chi_sim"], "recipe": str(recipe)}
    run = dagbag.get_dag("vlforge_preannotate").test(run_conf=conf)
    assert run.state == DagRunState.SUCCESS
    states = {(instance.task_id, instance.map_index): instance.state for instance in run.get_task_instances()}
    assert states == {("list_images", -1): "success", ("preannotate", 0): "success", ("preannotate", 1): "success", ("emit", -1): "success"}

    folder = vlforge_home / "preannotate" / run_folder_name(run.run_id)
    tasks = json.loads((folder / "tasks.json").read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and len(tasks) == 3
    assert [task["data"]["image"] for task in tasks] == [
        "/data/local-files/?d=books/paragraph.png",
        "/data/local-files/?d=phones/%E8%B4%AD%E7%89%A9%E8%BD%A6.jpg",
        "/data/local-files/?d=photos/chelsea.png",
    ]
    transcriptions = {}
    for task in tasks:
        (prediction,) = task["predictions"]
        assert prediction["model_version"].startswith("vlforge-preannotate: tesseract")
        assert prediction["model_version"].endswith(f"; qwen2_vl:{tiny_qwen.name}")
        for item in prediction["result"]:
            assert {"id", "from_name", "to_name", "type", "value"} <= item.keys()
            assert item["to_name"] == "image" and item["type"] in {"rectanglelabels", "textarea"}
            assert item["from_name"] in {"label", "transcription", "caption"}
            if item["type"] == "rectanglelabels":
                value = item["value"]
                assert value["x"] >= 0 and value["y"] >= 0 and value["x"] + value["width"] <= 100 + 1e-9
        transcriptions[task["meta"]["vlforge_file"]] = " ".join(
            item["value"]["text"][0] for item in prediction["result"] if item["from_name"] == "transcription"
        )
    assert "small implementation projects" in transcriptions["books/paragraph.png"]
    assert "广西砂糖桔" in transcriptions["phones/购物车.jpg"]
    assert len(list((folder / "shards").glob("shard-*.json"))) == 2
    assert '<TextArea name="transcription"' in (folder / "label_config.xml").read_text()

    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).one()
        assert event.asset.name == "vlforge_preannotations"
    assert event.extra["output"] == str(folder / "tasks.json")
    # OCR lines: 13 of the paragraph (as in the unit test), 22 of the phone screenshot, none of the cat
    assert (event.extra["tasks"], event.extra["ocr_lines"], event.extra["captions"]) == (3, 13 + 22, 3)


def test_an_empty_images_folder_fails_the_run(dagbag, tmp_path: Path) -> None:  # noqa: ANN001
    from airflow.utils.state import DagRunState

    (tmp_path / "empty").mkdir()
    output = tmp_path / "out" / "tasks.json"
    run = dagbag.get_dag("vlforge_preannotate").test(run_conf={"images_dir": str(tmp_path / "empty"), "output": str(output)})
    assert run.state == DagRunState.FAILED
    states = {instance.task_id: instance.state for instance in run.get_task_instances()}
    assert states["list_images"] == "failed" and states["emit"] == "upstream_failed"
    assert not output.exists()
