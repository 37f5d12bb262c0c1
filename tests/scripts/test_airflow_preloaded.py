"""scripts/airflow_preloaded.py: which modules it loads before the executor forks, its wait for a task's result, its exit."""

from __future__ import annotations

import importlib.util
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("airflow_preloaded", REPO / "scripts" / "airflow_preloaded.py")
assert spec is not None and spec.loader is not None
airflow_preloaded = importlib.util.module_from_spec(spec)
spec.loader.exec_module(airflow_preloaded)


def test_task_modules_are_the_vlforge_imports_at_any_depth(tmp_path: Path) -> None:
    dag = tmp_path / "some_dag.py"
    dag.write_text(
        "import os\nfrom airflow.sdk import dag, task\nimport vlforge.layout\n"
        "def build():\n    @task\n    def t():\n        from vlforge.augment.stage import augment_shard\n"
        "        from . import sibling\n        import numpy\n"
    )
    assert airflow_preloaded.task_modules(dag) == ["vlforge.augment.stage", "vlforge.layout"]


@pytest.mark.slow
@pytest.mark.parametrize(("dag_id", "with_scorer"), [("vlforge_release", True), ("vlforge_synthesize_scenes", False)])
def test_a_dag_preloads_its_stages_and_what_its_scorer_and_its_gates_need(dag_id: str, with_scorer: bool) -> None:
    """The release DAG scores with BERTScore and gates with GX: torch, BERT and the MIME tables come preloaded.

    The scenes DAG does neither.
    """
    modules = airflow_preloaded.task_modules(REPO / "dags" / f"{dag_id}.py")
    if dag_id == "vlforge_release":
        assert {"vlforge.augment.stage", "vlforge.ingest", "vlforge.quality.gate", "vlforge.release"} <= set(modules)
    code = (
        f"import sys; sys.path.insert(0, 'scripts'); import airflow_preloaded as p; p.preload({dag_id!r}); "
        "print(all(m in sys.modules for m in p.task_modules(p.Path('dags') / f'{sys.argv[1]}.py')), "
        "'torch' in sys.modules, 'vlforge.quality.metrics.bert_encoder' in sys.modules, "
        "'great_expectations' in sys.modules, __import__('mimetypes').inited, 'transformers' in sys.modules)"
    )
    env = {
        "PYTHONPATH": str(REPO / "include"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run([sys.executable, "-c", code, dag_id], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    # The release DAG gates with Great Expectations, and the MIME tables its Data Docs read come with it.
    # Its scorer's MiniLM runs without transformers (2.7-3 s to import), so that is not loaded.
    assert out.stdout.split() == ["True", *[str(with_scorer)] * 4, "False"]


def test_the_wait_ends_when_the_executor_has_a_result_and_sleeps_without_one() -> None:
    results = multiprocessing.SimpleQueue()
    executor = SimpleNamespace(result_queue=results)
    threading.Timer(0.2, results.put, args=(("task key", "success", None),)).start()
    started = time.monotonic()
    airflow_preloaded.sleep_until_a_result(60.0, executor)
    assert time.monotonic() - started < 30.0
    assert results.get() == ("task key", "success", None)
    slept: list[float] = []
    airflow_preloaded.sleep_until_a_result(1.0, None, slept.append)
    airflow_preloaded.sleep_until_a_result(1.0, SimpleNamespace(), slept.append)
    assert slept == [1.0, 1.0]


def test_end_now_flushes_and_exits_with_the_status_without_exit_handlers() -> None:
    code = (
        "import atexit, sys; sys.path.insert(0, 'scripts'); import airflow_preloaded as p; "
        "atexit.register(print, 'exit handler ran'); print('the run output', end=''); p.end_now(3)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout) == (3, "the run output")


def test_what_is_loaded_with_the_collector_off_is_frozen_and_the_collector_back_on() -> None:
    code = (
        "import gc, sys; sys.path.insert(0, 'scripts'); import airflow_preloaded as p\n"
        "before = gc.get_freeze_count()\n"
        "with p.collector_off_then_frozen():\n"
        "    off = not gc.isenabled()\n"
        "    loaded = [[index] for index in range(5000)]\n"
        "print(off, gc.isenabled(), gc.get_freeze_count() - before >= 5000)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


def test_the_collector_is_off_until_the_url_answers_then_what_exists_is_frozen() -> None:
    code = (
        "import gc, http.server, socket, sys, threading, time; sys.path.insert(0, 'scripts'); import airflow_preloaded as p\n"
        "probe = socket.socket(); probe.bind(('127.0.0.1', 0)); port = probe.getsockname()[1]; probe.close()\n"
        "before = gc.get_freeze_count()\n"
        "p.collector_off_until_answering(f'http://127.0.0.1:{port}/')\n"
        "built = [[index] for index in range(5000)]\n"
        "time.sleep(1.0)\n"
        "off_while_not_answering = not gc.isenabled()\n"
        "server = http.server.HTTPServer(('127.0.0.1', port), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "deadline = time.monotonic() + 30\n"
        "while not gc.isenabled() and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(off_while_not_answering, gc.isenabled(), gc.get_freeze_count() - before >= 5000)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["True", "True", "True"]
