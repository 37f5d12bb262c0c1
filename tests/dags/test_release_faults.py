"""Faults lose nothing: a shard failing once, a run killed before its release, a full disk, the catalog down.

Each test runs ``vlforge_release`` with ``dag.test()`` (one process; the killed run with ``airflow dags
test`` in a process group of its own) on generated COCO images cut into augment shards of two
(``tests/data/recipes/sharded.yaml``). The release of the first input, made once without faults,
is what the faulty runs are held to. (A Celery worker SIGKILLed mid-shard is in
``tests/integration/test_celery.py``.)
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.coco_shards import write_coco_dataset
from support.recipes import SHARDED_RECIPE

DATASET = "faults"


def _conf(tmp: Path, seed: int) -> dict[str, Any]:
    coco = write_coco_dataset(tmp / f"coco_{seed}", 20, seed=seed)
    return {"source": str(coco), "source_format": "coco", "dataset": DATASET, "recipe": SHARDED_RECIPE}


def _run(dagbag, conf: dict[str, Any]):  # noqa: ANN202 - an Airflow DagRun
    return dagbag.get_dag("vlforge_release").test(run_conf=conf)


def _states(run) -> dict[tuple[str, int], tuple[str, int]]:  # noqa: ANN001
    return {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}


def _releases(home: Path) -> dict[str, Any]:
    """What a reader of ``releases/<dataset>`` sees: its entries, ``LATEST`` and where ``current`` points."""
    folder = home / "releases" / DATASET
    current = folder / "current"
    return {
        "entries": sorted(path.name for path in folder.iterdir()),
        "latest": (folder / "LATEST").read_text().strip(),
        "current": os.readlink(current) if current.is_symlink() else None,
    }


def _quick_retry(dagbag, monkeypatch: pytest.MonkeyPatch, *task_ids: str) -> None:  # noqa: ANN001
    """Retry these tasks after 1 s instead of the DAG's 30 s (dag.test() waits out the delay)."""
    dag = dagbag.get_dag("vlforge_release")
    for task_id in task_ids:
        monkeypatch.setattr(dag.get_task(task_id), "retry_delay", timedelta(seconds=1))


@pytest.fixture(scope="module")
def clean(dagbag, vlforge_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first input released without faults: its conf and version."""
    from airflow.utils.state import DagRunState

    conf = _conf(tmp_path_factory.mktemp("faults"), seed=7)
    assert _run(dagbag, conf).state == DagRunState.SUCCESS
    return {"conf": conf, "version": _releases(vlforge_home)["latest"]}


@pytest.fixture
def alerts(dagbag, monkeypatch: pytest.MonkeyPatch) -> list[str]:  # noqa: ANN001
    """Every failure alert the DAG's tasks send (no Slack or email connection is needed)."""
    callback = dagbag.get_dag("vlforge_release").get_task("release").on_failure_callback
    (callback,) = callback if isinstance(callback, list) else [callback]
    sent: list[str] = []
    # The callback's own module: the one the DAG file imported from the plugins folder.
    monkeypatch.setitem(callback.__globals__, "send_alert", lambda text, context=None: sent.append(text) or [])
    return sent


def test_a_shard_that_fails_once_succeeds_on_retry_and_the_release_is_the_clean_one(
    dagbag, vlforge_home: Path, clean: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.state import DagRunState

    from vlforge.augment import stage

    real = stage.augment_shard
    calls: list[int] = []

    def fails_once_after_writing(run, shard, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(shard["index"])
        result = real(run, shard, *args, **kwargs)
        if shard["index"] == 1 and calls.count(1) == 1:
            raise OSError(errno.EIO, "Input/output error (injected after the shard wrote its files)")
        return result

    monkeypatch.setattr(stage, "augment_shard", fails_once_after_writing)
    _quick_retry(dagbag, monkeypatch, "augment")
    before = _releases(vlforge_home)
    run = _run(dagbag, clean["conf"])

    assert run.state == DagRunState.SUCCESS
    states = _states(run)
    assert states[("augment", 1)] == ("success", 2) and calls.count(1) == 2
    assert all(try_number == 1 for (task, index), (_, try_number) in states.items() if task == "augment" and index != 1)
    # The retried shard rewrote its files: the release is the clean run's (already there), not a new version.
    assert _releases(vlforge_home) == before and clean["version"] in before["entries"]


def test_a_run_killed_before_its_release_task_leaves_no_partial_release_and_the_next_run_succeeds(
    dagbag, vlforge_home: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    from airflow.utils.state import DagRunState

    from vlforge.catalog import open_catalog

    conf = _conf(tmp_path, seed=8)
    before = _releases(vlforge_home)
    runs = vlforge_home / "runs" / DATASET
    merged_before = set(runs.glob("*/augmented.parquet"))
    airflow = Path(sys.executable).with_name("airflow")
    process = subprocess.Popen(
        [str(airflow), "dags", "test", "vlforge_release", "-c", json.dumps(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        # merge_augment has written the run's augmented manifest: gate_augment, then release, come next.
        while not set(runs.glob("*/augmented.parquet")) - merged_before:
            assert process.poll() is None, f"airflow dags test ended ({process.returncode}) before merge_augment"
            assert time.monotonic() < deadline, "merge_augment not reached in 300 s"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    after_kill = _releases(vlforge_home)
    assert after_kill == before  # no new version, no half-built folder (.<version>.*), LATEST and current as they were
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        assert catalog.current(DATASET)["version"] == before["current"]

    run = _run(dagbag, conf)
    assert run.state == DagRunState.SUCCESS
    after = _releases(vlforge_home)
    assert after["latest"] == after["current"] not in before["entries"]
    assert after["entries"] == sorted([*before["entries"], after["latest"]])


def test_a_full_disk_at_the_release_write_fails_clearly_and_leaves_the_previous_release(
    dagbag, vlforge_home: Path, clean: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alerts: list[str]
) -> None:
    from airflow.utils.state import DagRunState

    from vlforge import release as release_module

    real = release_module.atomic_write_text

    def disk_full_at_release_json(path: Path, text: str) -> None:
        if Path(path).name == "RELEASE.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(release_module, "atomic_write_text", disk_full_at_release_json)
    _quick_retry(dagbag, monkeypatch, "release")
    before = _releases(vlforge_home)
    run = _run(dagbag, _conf(tmp_path, seed=9))

    assert run.state == DagRunState.FAILED
    states = _states(run)
    assert states[("release", -1)] == ("failed", 2) and states[("compare_and_promote", -1)][0] == "upstream_failed"
    assert _releases(vlforge_home) == before  # the half-built folder is gone; LATEST and current untouched
    (alert, *_) = [text for text in alerts if "FAILED at task release" in text]
    assert "No space left on device writing" in alert and "RELEASE.json" in alert
    assert f"previous release ({before['latest']}) and current are unchanged" in alert and "MiB free on" in alert


def _allow_connections(url: str, yes: bool) -> None:
    """Open or close the catalog's database to new connections (closing also ends the open ones): PostgreSQL refuses it."""
    from sqlalchemy import create_engine, make_url, text

    name = make_url(url).database
    server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(yes).lower()}'))
            if not yes:
                ended = text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name")
                connection.execute(ended, {"name": name})
    finally:
        server.dispose()


def test_the_catalog_down_at_promotion_leaves_the_release_unpromoted_and_a_rerun_promotes_it(
    dagbag, vlforge_home: Path, clean: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    alerts: list[str], postgres_catalog: str,
) -> None:
    from airflow.utils.state import DagRunState

    from vlforge.catalog import open_catalog

    # The catalog as a deployment configures it: the Airflow connection vlforge_catalog (the fixture sets it).
    name = postgres_catalog.rsplit("/", 1)[1]
    _quick_retry(dagbag, monkeypatch, "compare_and_promote")
    conf = _conf(tmp_path, seed=10)
    before = _releases(vlforge_home)

    _allow_connections(postgres_catalog, False)
    run = _run(dagbag, conf)

    assert run.state == DagRunState.FAILED
    states = _states(run)
    assert states[("release", -1)] == ("success", 1) and states[("compare_and_promote", -1)] == ("failed", 2)
    during = _releases(vlforge_home)
    version = during["latest"]
    marker = vlforge_home / "releases" / DATASET / f"{version}.unpromoted.json"
    # The release stays, whole, beside a mark saying why it is not promoted; current has not moved.
    assert version not in before["entries"] and (vlforge_home / "releases" / DATASET / version / "RELEASE.json").is_file()
    assert during["entries"] == sorted([*before["entries"], version, marker.name]) and during["current"] == before["current"]
    mark = json.loads(marker.read_text())
    assert mark["version"] == version and mark["catalog"].endswith(f"/{name}")
    assert "not currently accepting connections" in mark["error"]
    (alert, *_) = [text for text in alerts if "FAILED at task compare_and_promote" in text]
    assert f"{DATASET}/{version} is published" in alert and "NOT promoted" in alert and str(marker) in alert

    _allow_connections(postgres_catalog, True)
    rerun = _run(dagbag, conf)

    assert rerun.state == DagRunState.SUCCESS
    after = _releases(vlforge_home)
    assert after["current"] == after["latest"] == version and not marker.exists()
    with open_catalog(postgres_catalog) as catalog:
        assert catalog.current(DATASET)["version"] == version
        assert catalog.get_release(DATASET, version)["status"] == "promoted"
