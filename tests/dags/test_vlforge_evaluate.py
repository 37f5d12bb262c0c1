"""The evaluate DAG: parses, is wired as documented, and flags a planted over-strong OCR degradation end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.chat_completion import completion
from support.recipes import DEMO_OVERSTRONG_OCR_RECIPE

from vlforge.catalog import open_catalog
from vlforge.demo import prepare_demo


def test_evaluate_dag_is_scheduled_on_the_release_alias_documented_and_retried(dagbag) -> None:
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("vlforge_evaluate")
    release = dagbag.get_dag("vlforge_release")
    assert set(dag.tags) == {"vlforge", "evaluate"}
    assert "vlforge_evaluate" in dag.doc_md
    # The alias the release task emits through is the one this DAG is scheduled on.
    outlets = release.get_task("compare_and_promote").outlets
    assert [alias.name for alias in outlets] == ["vlforge_release"]
    assert "vlforge_release" in str(dag.timetable.asset_condition)
    assert [task.task_id for task in dag.topological_sort()][:2] == ["prepare", "plan"]
    assert {task.task_id for task in dag.tasks} == {
        "prepare", "plan", "alignment_shards", "align", "ocr_shards", "read_back", "model_shards", "ask_model", "merge"
    }
    assert set(dag.params) == {"dataset", "version", "recipe", "backends"}
    assert all(task.retries == (0 if task.task_id == "prepare" else 1) for task in dag.tasks)


@pytest.mark.slow
def test_release_event_then_evaluation_flags_the_planted_ocr_degradation(
    dagbag, vlforge_home: Path, tmp_path: Path, tiny_qwen_vl, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    export = prepare_demo(tmp_path / "demo")  # the first export: five samples, 3/1/1 as demo_real_only's splits ask
    conf = {"source": str(export), "source_format": "label_studio", "dataset": "evaltest", "recipe": DEMO_OVERSTRONG_OCR_RECIPE}
    released = dagbag.get_dag("vlforge_release").test(run_conf=conf)
    assert released.state == DagRunState.SUCCESS
    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == released.run_id)).one()
        assert event.asset.uri.startswith("vlforge://evaltest")
        extra = dict(event.extra)
    # dag.test() starts a manual run, which carries no triggering events: the event's extra goes in as the Params.
    run = dagbag.get_dag("vlforge_evaluate").test(run_conf={"dataset": extra["dataset"], "version": extra["version"]})
    assert run.state == DagRunState.SUCCESS

    version = extra["version"]
    folders = list((vlforge_home / "evaluations" / "evaltest" / version).iterdir())
    assert len(folders) == 1
    folder = folders[0]
    flags = json.loads((folder / "flags.json").read_text())
    flagged = {(flag["evaluator"], flag["metric"], flag["op"]) for flag in flags}
    assert ("ocr_readability", "ocr_word_f1", "ocr_degradation") in flagged
    worst = next(flag for flag in flags if flag["metric"] == "ocr_word_f1")
    assert worst["drop"] > 0.1 and worst["examples"]
    suggestion = (folder / "recipe_suggestion.diff").read_text()
    assert "# ocr_degradation 1 -> 0.5 in phase main" in suggestion
    # The run was started from the release's event, without a recipe Param, and the recipe file is not in
    # include/recipes: the diff is of the release's frozen recipe, and changes only that op's probability.
    changed = [line for line in suggestion.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-        probability: 1.0", "+        probability: 0.5"]
    assert "     - ocr_degradation:\n" in suggestion  # in the hunk's context
    assert Path(DEMO_OVERSTRONG_OCR_RECIPE).read_text().count("probability: 1.0") == 1  # the recipe is untouched
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        stored = catalog.list_evaluations("evaltest", version)
    by_key = {(row["metric"], row["subset"]): row for row in stored}
    assert by_key[("ocr_word_f1", "op=ocr_degradation")]["value"] < by_key[("ocr_word_f1", "op=ocr_degradation/parents")]["value"]
    assert ("ocr_accuracy", "level=1") in by_key and ("ocr_accuracy", "all") in by_key
    assert "ocr_degradation" in (folder / "report.html").read_text()

    # Run again by hand with a recipe of the data engineer's own that names a (tiny random, offline) CLIP:
    # alignment's mapped shards run too, and the suggestion is a diff of that file.
    from support.tiny_scenes import build_tiny_clip

    clip = build_tiny_clip(tmp_path / "tiny-clip", ["cat", "coffee", "astronaut", "rocket"])
    own = tmp_path / "mine.yaml"
    own.write_text(Path(DEMO_OVERSTRONG_OCR_RECIPE).read_text() + f"evaluate:\n  clip_model_path: '{clip}'\n", encoding="utf-8")
    again = dagbag.get_dag("vlforge_evaluate").test(run_conf={"dataset": "evaltest", "version": "current", "recipe": str(own)})
    assert again.state == DagRunState.SUCCESS
    (second,) = {path for path in (vlforge_home / "evaluations" / "evaltest" / version).iterdir()} - {folder}
    diff = (second / "recipe_suggestion.diff").read_text()
    assert "-    - ocr_degradation: {probability: 1.0, task_types: [ocr], blur_sigma_range: [4.0, 5.0]}\n" in diff
    assert "+    - ocr_degradation: {probability: 0.5, task_types: [ocr], blur_sigma_range: [4.0, 5.0]}\n" in diff
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        stored = catalog.list_evaluations("evaltest", version)
    aligned = {(row["metric"], row["subset"]): row for row in stored if row["evaluator"] == "alignment"}
    assert aligned[("recall@1", "all")]["model"] == "tiny-clip" and aligned[("recall@10", "all")]["value"] == 1.0
    assert {row["evaluation_run"] for row in stored} == {second.name}  # the second run replaced the first's rows

    # Model-side: a local tiny random Qwen2.5-VL from the recipe's evaluate.models, and an OpenAI-compatible
    # endpoint from an Airflow connection of its name that answers every prompt with text that is no answer.
    with answering("I cannot tell.") as base_url:
        monkeypatch.setenv("AIRFLOW_CONN_ENDPOINT", json.dumps({
            "conn_type": "http", "host": base_url, "password": "secret",
            "extra": {"generation": "qwen2_5_vl", "served_model": "canned", "timeout_s": 5, "retries": 0},
        }))
        models = f"  models:\n    tiny: {{kind: transformers, name: tiny-local, generation: qwen2_5_vl, model_path: '{tiny_qwen_vl('qwen2_5_vl')}', max_new_tokens: 8}}\n"
        own.write_text(own.read_text(encoding="utf-8") + models, encoding="utf-8")
        asked = dagbag.get_dag("vlforge_evaluate").test(
            run_conf={"dataset": "evaltest", "version": "current", "recipe": str(own), "backends": ["tiny", "endpoint"]}
        )
    assert asked.state == DagRunState.SUCCESS
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        stored = catalog.list_evaluations("evaltest", version)
    model_rows = [row for row in stored if row["evaluator"] == "model"]
    assert {row["model"] for row in model_rows} == {"tiny-local", "canned"}
    (test_sample,) = [row for row in model_rows if row["model"] == "canned" and row["metric"] == "answered"]
    assert test_sample["value"] == 1.0 and test_sample["count"] == 1  # the demo's one test sample was asked and scored
    scored = [row for row in model_rows if row["model"] == "canned" and row["metric"] not in ("answered", "bertscore_pass_rate")]
    assert [row["value"] for row in scored] != [] and all(row["value"] < 0.5 for row in scored)  # no answer scores low


@contextmanager
def answering(text: str) -> Iterator[str]:
    """A real HTTP server that answers every chat completion with ``text``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(completion(text)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
