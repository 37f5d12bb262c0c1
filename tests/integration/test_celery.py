"""Scale-out, run for real: ``vlforge_release`` on the CeleryExecutor with two workers, one of them killed mid-shard.

PostgreSQL (metadata DB, a database of this test's own) and Redis (the broker, a database number of
its own) on 127.0.0.1; api-server, scheduler, dag-processor and Celery workers ``w1`` and ``w2`` as
local process groups (``tests/support/celery_cluster.py``). The run is triggered through the REST
API on 20 generated COCO images, whose 18 train samples the recipe cuts into 9 augment shards
(and 2 compose shards). When a worker that has already finished an augment shard starts another,
it is SIGKILLed with every process under it: the scheduler finds the task's heartbeat gone, fails
the try, and the retry runs on the other worker. The release must still equal, content hash for
content hash, the one ``airflow dags test`` (the embedded set-up) makes from the same input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.celery_cluster import CeleryCluster, unavailable_reason
from support.coco_shards import write_coco_dataset
from support.recipes import SHARDED_RECIPE

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHARDED_TASKS = ("compose", "augment")


def _conf(coco: Path) -> dict[str, Any]:
    return {"source": str(coco), "source_format": "coco", "dataset": "sharded", "recipe": SHARDED_RECIPE}


def latest_release(home: Path, dataset: str) -> dict[str, Any]:
    releases = home / "releases" / dataset
    version = (releases / "LATEST").read_text(encoding="utf-8").strip()
    return json.loads((releases / version / "RELEASE.json").read_text(encoding="utf-8"))


def embedded_release(home: Path, conf: dict[str, Any]) -> dict[str, Any]:
    """The release ``airflow dags test`` makes (the tests' SQLite Airflow home, ``VLFORGE_HOME=home``)."""
    airflow = Path(sys.executable).with_name("airflow")
    run = subprocess.run(
        [str(airflow), "dags", "test", "vlforge_release", "-c", json.dumps(conf)],
        env={**os.environ, "VLFORGE_HOME": str(home)}, capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return latest_release(home, conf["dataset"])


class KillMidShard:
    """Kills the worker of a running ``task_id`` shard once that worker has finished one shard of it already."""

    def __init__(self, cluster: CeleryCluster, run_id: str, task_id: str) -> None:
        self.cluster, self.run_id, self.task_id = cluster, run_id, task_id
        self.killed: dict[str, Any] | None = None  # the task instance that was running, as the API gave it

    def poll(self) -> None:
        if self.killed is not None:
            return
        shards = [ti for ti in self.cluster.task_instances(self.run_id) if ti["task_id"] == self.task_id]
        finished = {ti["hostname"] for ti in shards if ti["state"] == "success"}
        running = [ti for ti in shards if ti["state"] == "running" and ti["hostname"] in finished]
        if running:
            worker = next(name for name, service in self.cluster.services.items() if service.hostname == running[0]["hostname"])
            self.cluster.kill_worker(worker)
            self.killed = running[0]


def shard_table(cluster: CeleryCluster, run_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Every try of every shard: the table the test prints, and its rows."""
    rows = []
    for ti in sorted(cluster.task_instances(run_id), key=lambda item: (item["task_id"], item["map_index"])):
        if ti["task_id"] in SHARDED_TASKS:
            for attempt in cluster.tries(run_id, ti["task_id"], ti["map_index"]):
                rows.append({key: attempt[key] for key in ("task_id", "map_index", "try_number", "hostname", "state")})
    lines = [f"{'task':<8} {'shard':>5} {'try':>3}  {'worker (task instance hostname)':<34} state"]
    lines += [f"{row['task_id']:<8} {row['map_index']:>5} {row['try_number']:>3}  {row['hostname'] or '-':<34} {row['state']}"
              for row in rows]
    return "\n".join(lines), rows


def test_release_on_two_celery_workers_equals_the_embedded_one_after_a_worker_is_killed(airflow_db, tmp_path, capsys) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    conf = _conf(write_coco_dataset(tmp_path / "coco", 20, seed=7))
    embedded = embedded_release(tmp_path / "embedded", conf)

    with CeleryCluster(tmp_path / "celery", workers=2) as cluster:
        run_id = cluster.trigger(conf)
        killer = KillMidShard(cluster, run_id, "augment")
        state = cluster.wait(run_id, timeout=540, on_poll=killer.poll)
        table, rows = shard_table(cluster, run_id)
        with capsys.disabled():
            print(f"\nshard-to-worker table of {run_id} (CeleryExecutor, workers {', '.join(cluster.workers)}):\n{table}")
        assert state == "success", cluster.tails()
        celery_release = latest_release(cluster.vlforge_home, "sharded")
        # The promotion's asset event starts the evaluation DAG on the scheduler, with nobody triggering it.
        evaluation = cluster.wait_for_triggered_run("vlforge_evaluate")
        assert evaluation["state"] == "success", cluster.tails()
        evaluated = cluster.vlforge_home / "evaluations" / "sharded" / celery_release["version"]
        assert [path.name for path in evaluated.iterdir()] != [] and all((path / "results.json").is_file() for path in evaluated.iterdir())
        pids = [service.process.pid for service in cluster.services.values()]
        worker_hosts = {cluster.services[name].hostname for name in cluster.workers}

    augment = [row for row in rows if row["task_id"] == "augment"]
    assert len({row["map_index"] for row in augment}) >= 8
    succeeded = {(row["task_id"], row["map_index"]): row["hostname"] for row in rows if row["state"] == "success"}
    assert {host for (task, _), host in succeeded.items() if task == "augment"} == worker_hosts  # shards ran on both
    assert killer.killed is not None, "no worker was running its second augment shard to kill"
    killed_tries = [row for row in augment if row["map_index"] == killer.killed["map_index"]]
    assert [row["try_number"] for row in killed_tries] == [1, 2]
    assert killed_tries[0]["hostname"] == killer.killed["hostname"] and killed_tries[0]["state"] == "failed"
    assert killed_tries[1]["state"] == "success" and killed_tries[1]["hostname"] in worker_hosts - {killer.killed["hostname"]}
    # Nothing lost, nothing doubled: the same release as the embedded run's, byte for byte of its content.
    assert celery_release["content_hash"] == embedded["content_hash"]
    assert celery_release["counts"]["augment"]["augmented"] == embedded["counts"]["augment"]["augmented"] == 18
    # Every process group ended with the cluster.
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
