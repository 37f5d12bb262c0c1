"""Benchmark: ``make run`` end to end, per 1,000 samples, its Airflow + GX overhead, and 1 core against every core.

Each run is what ``make run`` does (``scripts/run_dag.sh vlforge_release``: ``airflow dags test
--use-executor`` with the LocalExecutor and its own Execution API server) on a Label Studio export of
``n`` tasks over ``n`` distinct real photographs (``bench_data``), with a recipe that is the default
one but for two things: two augmented copies per train sample (an augment-heavy run) and no
near-duplicate removal (the photographs are windows of four pictures). Wall time is the script's,
from its start to its exit (API server start-up included).

Overhead: the time of the run during which none of vlforge's stage tasks was running (read from
Airflow's own task-instance start and end times in its metadata database): scheduling, task process
start-up, DAG parsing, XCom, and the Great Expectations gate tasks (``gate_*``). A stage task's own
bookkeeping (its XCom push, its log lines) counts as stage time, so the share is a little low.

Where the rest goes (``overhead_profile``): every second of the wall time is put in one class, the
first that applies at that moment: inside a stage task's function, inside a gate's function, a task's
start-up (process fork, DAG file parse, XCom pulls: from its start time to its function's first line,
read from the task's log), a task's finish (XCom push and state: from its function's return to its
end time), between tasks (the ``dags test`` loop noticing a finished task and queueing the next, the
executor handing it to a worker), before the first task (API server, imports, DAG parse and database
sync, run creation) and after the last one.

Runs: ``n`` = 1,000 on one core and on every core, the same release version from both; ``n`` =
10,000 on every core. A run on ``c`` cores is pinned to the first ``c`` CPUs this process may use
(``sched_setaffinity``; every process of the run inherits it) with ``VLFORGE_CORES=c``: one core means
one task at a time and nothing of the run (API server, scheduling loop, a task's OpenCV or torch
threads) on a second CPU. ``run(quick)`` is the harness entry (``bench/run.py``); quick
runs 200 samples on one core and on every core.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_data import write_label_studio_export

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECIPE = "curate:\n  dedup: {enabled: false}\naugment:\n  copies_per_sample: 2\n"


def environment(airflow_home: Path, vlforge_home: Path) -> dict[str, str]:
    """What the Makefile exports for ``make run``, for these two homes."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO / "include"),
        "VLFORGE_HOME": str(vlforge_home),
        "HF_HUB_OFFLINE": "1",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW_BIN": str(BIN / "airflow"),
    }


def stage_busy_seconds(airflow_db: Path, run_id: str) -> tuple[float, dict[str, float]]:
    """Seconds of the run's timeline covered by at least one non-gate task, and task seconds per task id."""
    with sqlite3.connect(airflow_db) as db:
        rows = db.execute(
            "select task_id, start_date, end_date from task_instance where run_id = ? and end_date is not null", (run_id,)
        ).fetchall()
    per_task: dict[str, float] = {}
    intervals = []
    for task_id, start, end in rows:
        begin, finish = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()
        per_task[task_id] = per_task.get(task_id, 0.0) + finish - begin
        if not task_id.startswith("gate_"):
            intervals.append((begin, finish))
    busy, reach = 0.0, float("-inf")
    for begin, finish in sorted(intervals):
        if finish > reach:
            busy += finish - max(begin, reach)
            reach = finish
    return busy, per_task


PROFILE_CLASSES = ("stage functions", "gate functions (GX)", "task start-up (fork, DAG parse, XCom pull)",
                   "task finish (XCom push, state)", "between tasks (scheduling, queueing)",
                   "before the first task (API server, imports, DAG sync)", "after the last task")  # fmt: skip


def overhead_profile(airflow_home: Path, run_id: str, started: float, ended: float) -> dict[str, float]:
    """Seconds of the run's wall time (``started`` to ``ended``, epoch seconds) in each of ``PROFILE_CLASSES``."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "select task_id, map_index, try_number, start_date, end_date from task_instance where run_id = ? and end_date is not null",
            (run_id,),
        ).fetchall()
    spans: list[tuple[float, float, int]] = []  # (begin, end, class index); the lowest index wins where they overlap
    for task_id, map_index, try_number, start, end in rows:
        begin, finish = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()
        called, returned = _function_times(airflow_home / "logs" / "dag_id=vlforge_release" / f"run_id={run_id}" / f"task_id={task_id}"
                                           / (f"map_index={map_index}" if map_index >= 0 else "") / f"attempt={try_number}.log")  # fmt: skip
        called, returned = called or begin, returned or finish
        spans += [(called, returned, 1 if task_id.startswith("gate_") else 0), (begin, called, 2), (returned, finish, 3)]
    first = min(begin for begin, _, _ in spans)
    last = max(end for _, end, _ in spans)
    spans += [(first, last, 4), (started, first, 5), (last, ended, 6)]
    cuts = sorted({started, ended, *(t for begin, end, _ in spans for t in (begin, end) if started < t < ended)})
    seconds = dict.fromkeys(PROFILE_CLASSES, 0.0)
    for begin, end in itertools.pairwise(cuts):
        middle = (begin + end) / 2
        seconds[PROFILE_CLASSES[min(kind for low, high, kind in spans if low <= middle < high)]] += end - begin
    return {name: round(value, 1) for name, value in seconds.items()}


def _function_times(task_log: Path) -> tuple[float | None, float | None]:
    """When the task's function was called and returned, from the task runner's log lines (None where absent)."""
    called = returned = None
    for line in task_log.read_text(encoding="utf-8").splitlines() if task_log.is_file() else []:
        event = json.loads(line) if line.startswith("{") else {}
        when = event.get("timestamp")
        if when and called is None and event.get("event") == "::endgroup::":  # the end of "Pre Execute"
            called = datetime.fromisoformat(when).timestamp()
        elif when and returned is None and event.get("event") == "::group::Post Execute":
            returned = datetime.fromisoformat(when).timestamp()
    return called, returned


def one_run(root: Path, airflow_home: Path, export: Path, recipe: Path, cores: int) -> dict[str, Any]:
    """``make run`` on ``export`` with ``cores`` task processes at once: wall seconds, overhead share, version."""
    vlforge_home = root / f"home-{export.parent.name}-{cores}"
    env = {**environment(airflow_home, vlforge_home), "VLFORGE_CORES": str(cores)}
    conf = json.dumps({"source": str(export), "source_format": "label_studio", "dataset": "bench", "recipe": str(recipe)})
    log = root / f"run-{export.parent.name}-{cores}.log"
    load = os.getloadavg()[0]
    started, started_at = time.perf_counter(), time.time()
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    with log.open("w") as out:
        code = subprocess.run(
            [str(REPO / "scripts" / "run_dag.sh"), "vlforge_release", conf],
            env=env,
            stdout=out,
            stderr=out,
            cwd=REPO,
            check=False,
            preexec_fn=lambda: os.sched_setaffinity(0, allowed),
        ).returncode
    wall = time.perf_counter() - started
    if code:
        raise RuntimeError(
            f"make run on {export} with {cores} core(s) failed ({code}); its log: {log}\n{log.read_text()[-3000:]}"
        )
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        (run_id,) = db.execute("select run_id from dag_run where dag_id = 'vlforge_release' order by id desc limit 1").fetchone()
    busy, per_task = stage_busy_seconds(airflow_home / "airflow.db", run_id)
    latest = subprocess.run(
        [str(BIN / "python"), "-m", "vlforge.cli", "latest", "bench"], env=env, capture_output=True, text=True, check=True
    )
    version = latest.stdout.split()[1].rstrip("/").rsplit("/", 1)[-1]
    return {"wall_s": wall, "stage_busy_s": busy, "overhead_share": 1 - busy / wall, "version": version,
            "load_at_start": load, "load_at_end": os.getloadavg()[0],
            "profile_s": overhead_profile(airflow_home, run_id, started_at, started_at + wall),
            "task_seconds": {task: round(seconds, 1) for task, seconds in sorted(per_task.items())}}  # fmt: skip


def run(quick: bool) -> dict[str, Any]:
    """The harness entry: wall time per 1,000 samples, overhead shares, and the all-cores speed-up."""
    small, large = (200, None) if quick else (1_000, 10_000)
    if os.environ.get("BENCH_E2E_SIZES"):  # e.g. "1000": the one-core / all-cores pair only, no large run
        small, large = int(os.environ["BENCH_E2E_SIZES"]), None
    cores = len(os.sched_getaffinity(0))
    figures: list[dict[str, Any]] = []
    aims: list[dict[str, Any]] = []
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_end_to_end.") as temp:
        root = Path(temp)
        airflow_home = root / "airflow"
        airflow_home.mkdir()
        env = environment(airflow_home, root / "unused")
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, check=True)
        recipe = root / "bench_recipe.yaml"
        recipe.write_text(RECIPE, encoding="utf-8")
        for n in (small, large):
            if n is None:
                continue
            export = write_label_studio_export(root / f"export-{n}", n, n)
            for used in [1, cores] if n == small else [cores]:
                result = one_run(root, airflow_home, export, recipe, used)
                runs[f"{n} samples, {used} core(s)"] = result
                figures.append(
                    {
                        "label": f"wall per 1,000 samples, {n:,} samples, {used} core(s)",
                        "value": result["wall_s"] * 1000 / n,
                        "unit": "s",
                    }
                )
                figures.append(
                    {
                        "label": f"Airflow + GX overhead share, {n:,} samples, {used} core(s)",
                        "value": result["overhead_share"],
                        "unit": "of wall",
                    }
                )
                figures.append(
                    {
                        "label": f"Airflow + GX overhead, {n:,} samples, {used} core(s)",
                        "value": result["wall_s"] - result["stage_busy_s"],
                        "unit": "s",
                    }
                )
    one, every = runs[f"{small} samples, 1 core(s)"], runs[f"{small} samples, {cores} core(s)"]
    aims.append(
        {
            "label": f"one-core wall / all-cores wall, {small:,} samples, {cores} cores",
            "value": one["wall_s"] / every["wall_s"],
            "op": ">=",
            "target": 1.7,
        }
    )
    aims.append(
        {
            "label": f"Airflow + GX overhead share at {small:,} samples (all cores)",
            "value": every["overhead_share"],
            "op": "<=",
            "target": 0.15,
        }
    )
    if large is not None:
        aims.append(
            {
                "label": f"Airflow + GX overhead share at {large:,} samples (all cores)",
                "value": runs[f"{large} samples, {cores} core(s)"]["overhead_share"],
                "op": "<=",
                "target": 0.05,
            }
        )
    same = one["version"] == every["version"]
    aims.append(
        {"label": "one-core and all-cores runs release the same version", "value": float(same), "op": ">=", "target": 1.0}
    )
    versions = ", ".join(f"{name}: {result['version']}" for name, result in runs.items())
    notes = [f"versions: {versions}",
             "recipe: default, augment.copies_per_sample 2, curate.dedup off"]  # fmt: skip
    for name, result in runs.items():
        profile = ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in result["profile_s"].items())
        notes.append(
            f"{name}: load {result['load_at_start']:.1f} at start, {result['load_at_end']:.1f} at end; seconds: {profile}"
        )
    return {"figures": figures, "aims": aims, "notes": notes, "runs": runs}
