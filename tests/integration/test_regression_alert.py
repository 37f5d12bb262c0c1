"""The release DAG twice: a degraded source passes its gates but is held as a regression, and Slack hears of it.

A ``ThreadingHTTPServer`` on 127.0.0.1 plays the Slack incoming webhook; the
Airflow connection ``vlforge_slack`` points at it through
``AIRFLOW_CONN_VLFORGE_SLACK``, as a deployment would point it at
hooks.slack.com. The catalog is the SQLite file under ``VLFORGE_HOME``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.recipes import DEMO_REAL_ONLY_RECIPE

from vlforge.catalog import open_catalog

TOKEN = "T0000/B0000/XXXXXXXX"


class _Webhook(BaseHTTPRequestHandler):
    """Records every POST (path and JSON body) on its server and answers like Slack: 200 ``ok``."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append({"path": self.path, "body": json.loads(body)})  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A local webhook receiver and the ``vlforge_slack`` connection to it; yields the messages received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = {
        "conn_type": "slackwebhook",
        # The hook takes the whole base URL from host and ignores a separate port.
        "host": f"http://127.0.0.1:{server.server_address[1]}/services",
        "password": TOKEN,
    }
    monkeypatch.setenv("AIRFLOW_CONN_VLFORGE_SLACK", json.dumps(connection))
    monkeypatch.delenv("AIRFLOW_CONN_VLFORGE_SMTP", raising=False)
    yield server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def degrade_ocr(export: Path, target: Path, share: float = 0.03) -> Path:
    """A copy of a Label Studio export whose second round misreads ``share`` of each OCR line's characters.

    Milder than ``tests/conftest.py``'s ``inject_disagreement``: boxes stay put and the OCR item
    still passes the per-sample and dataset thresholds (0.95), but its accuracy falls by more than
    the default tolerance (0.02).
    """
    tasks = json.loads(export.read_text(encoding="utf-8"))
    for task in tasks:
        for annotation in task["annotations"][1:2]:
            for result in annotation["result"]:
                if result["type"] == "textarea" and "x" in result["value"]:
                    result["value"]["text"] = [_misread(text, share) for text in result["value"]["text"]]
    target.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return target


def _misread(text: str, share: float) -> str:
    count = math.ceil(share * len(text))
    positions = {round(index * len(text) / count) for index in range(count)}
    return "".join("#" if index in positions else char for index, char in enumerate(text))


def _texts(received: list[dict[str, Any]]) -> list[str]:
    return [message["body"]["text"] for message in received]


def test_a_degraded_source_is_held_and_alerts_with_old_and_new_values(
    dagbag, vlforge_home: Path, demo_export: Path, webhook: list[dict[str, Any]]
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    dag = dagbag.get_dag("vlforge_release")
    conf = {"source_format": "label_studio", "dataset": "regress", "recipe": DEMO_REAL_ONLY_RECIPE}
    first = dag.test(run_conf=conf | {"source": str(demo_export)})
    assert first.state == DagRunState.SUCCESS
    releases = vlforge_home / "releases" / "regress"
    first_version = (releases / "LATEST").read_text().strip()
    assert os.readlink(releases / "current") == first_version
    assert webhook == []  # a first release has nothing to compare with: no alert

    degraded = degrade_ocr(demo_export, demo_export.with_name("degraded_export.json"))
    second = dag.test(run_conf=conf | {"source": str(degraded)})
    assert second.state == DagRunState.SUCCESS  # gates passed; holding is the comparison's verdict
    second_version = (releases / "LATEST").read_text().strip()
    assert second_version != first_version
    new_release = json.loads((releases / second_version / "RELEASE.json").read_text())
    assert all(gate["passed"] for gate in new_release["gates"])
    new_ocr = new_release["metrics"]["ocr_accuracy"]
    assert 0.95 <= new_ocr < 1.0 - 0.02

    (alert,) = webhook
    assert alert["path"] == f"/services/{TOKEN}"
    text = alert["body"]["text"]
    assert f"regress {second_version}" in text and "HELD" in text and f"current stays {first_version}" in text
    assert f"ocr_accuracy 1.0000 -> {new_ocr:.4f} ({new_ocr - 1.0:+.4f}, tolerance 0.0200)" in text
    assert "REGRESSION" in text

    assert os.readlink(releases / "current") == first_version
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        rows = {row["version"]: row for row in catalog.list_releases("regress")}
        assert (rows[first_version]["status"], rows[first_version]["current"]) == ("promoted", True)
        assert (rows[second_version]["status"], rows[second_version]["current"]) == ("held", False)
        assert rows[second_version]["ocr_accuracy"] == pytest.approx(new_ocr)

    with create_session() as session:
        events = {
            run.run_id: session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).all()
            for run in (first, second)
        }
    assert [event.extra["version"] for event in events[first.run_id]] == [first_version]
    assert events[second.run_id] == []  # a held release announces nothing to training DAGs

    # A person overrides the hold: the catalog records who, current moves, the channel hears of it.
    forced = dag.test(run_conf=conf | {"source": str(degraded), "force_promote": True, "promoted_by": "alice"})
    assert forced.state == DagRunState.SUCCESS
    assert os.readlink(releases / "current") == second_version
    with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as catalog:
        row = catalog.get_release("regress", second_version)
        assert row is not None and row["current"] and row["forced_by"] == "alice"
        assert [item["forced_by"] for item in row["promotions"]] == ["alice"]
    assert "promoted to current by alice despite a regression" in _texts(webhook)[-1]


def test_a_failed_gate_alerts_through_the_failure_callback(
    dagbag, demo_export: Path, webhook: list[dict[str, Any]]
) -> None:
    from airflow.utils.state import DagRunState

    missing_images = demo_export.with_name("nowhere") / demo_export.name
    missing_images.parent.mkdir()
    missing_images.write_text(demo_export.read_text())  # every image reference dangles: all rows quarantined
    run = dagbag.get_dag("vlforge_release").test(
        run_conf={"source": str(missing_images), "source_format": "label_studio", "dataset": "regress_failing", "recipe": DEMO_REAL_ONLY_RECIPE}
    )
    assert run.state == DagRunState.FAILED
    (text,) = _texts(webhook)
    assert "vlforge_release FAILED at task gate_ingest" in text and "dataset regress_failing" in text
    assert "GateFailed" in text
