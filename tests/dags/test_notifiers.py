"""vlforge's notifiers: Slack and email through Airflow connections to local receivers; missing ones only warn."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))  # as Airflow does for its plugins folder

import vlforge_notifiers  # noqa: E402

MESSAGE = "vlforge: release demo abc HELD as a regression; current stays 123.\n  ocr_accuracy 1.0000 -> 0.9600"


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: every message's raw DATA goes to the server's ``received``."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost\r\n")
        lines: list[bytes] | None = None
        for line in self.rfile:
            if lines is not None:
                if line.rstrip(b"\r\n") == b".":
                    self.server.received.append(message_from_bytes(b"".join(lines)))  # type: ignore[attr-defined]
                    lines = None
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(line)
                continue
            command = line[:4].upper()
            if command == b"EHLO":
                self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
            elif command == b"DATA":
                lines = []
                self.wfile.write(b"354 go on\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


class _Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.server.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: socketserver.BaseServer) -> Iterator[list[Any]]:
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Message]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "extra": {
            "to": "ml@example.org, data@example.org",
            "from_email": "vlforge@example.org",
            "disable_ssl": True,
            "disable_tls": True,
            "retry_limit": 0,
            "timeout": 5,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_VLFORGE_SMTP", json.dumps(connection))
    yield from _serve(server)


@pytest.fixture
def slack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    # Type http and the whole webhook URL in the password: the other form the hook accepts.
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T1/B1/X1"
    monkeypatch.setenv("AIRFLOW_CONN_VLFORGE_SLACK", json.dumps({"conn_type": "http", "password": url}))
    yield from _serve(server)


class _Log:
    """Stands in for the module's logger (Airflow's structlog set-up bypasses caplog): (level, message) pairs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def warning(self, message: str, *args: object) -> None:
        self.lines.append(("warning", message % args))

    def exception(self, message: str, *args: object) -> None:
        self.lines.append(("exception", message % args))


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> _Log:
    log = _Log()
    monkeypatch.setattr(vlforge_notifiers, "log", log)
    return log


def test_missing_connections_only_warn(monkeypatch: pytest.MonkeyPatch, logged: _Log) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_VLFORGE_SLACK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_VLFORGE_SMTP", raising=False)
    assert vlforge_notifiers.send_alert(MESSAGE) == []
    assert logged.lines == [
        ("warning", "vlforge alert not sent through vlforge_slack: no Airflow connection 'vlforge_slack' is defined"),
        ("warning", "vlforge alert not sent through vlforge_smtp: no Airflow connection 'vlforge_smtp' is defined"),
    ]


def test_alert_goes_to_slack_and_email(slack_server: list[dict[str, Any]], smtp_server: list[Message]) -> None:
    assert vlforge_notifiers.send_alert(MESSAGE) == ["vlforge_slack", "vlforge_smtp"]
    assert slack_server == [{"text": MESSAGE}]
    (mail,) = smtp_server
    assert mail["Subject"] == MESSAGE.splitlines()[0]
    assert mail["To"] == "ml@example.org, data@example.org" and mail["From"] == "vlforge@example.org"
    html = next(part for part in mail.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert b"ocr_accuracy 1.0000 -&gt; 0.9600" in html


def test_an_unreachable_webhook_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch, logged: _Log) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    port = closed.server_address[1]
    closed.server_close()
    connection = {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}/services", "password": "T/B/X"}
    monkeypatch.setenv("AIRFLOW_CONN_VLFORGE_SLACK", json.dumps(connection))
    monkeypatch.delenv("AIRFLOW_CONN_VLFORGE_SMTP", raising=False)
    assert vlforge_notifiers.send_alert(MESSAGE) == []
    assert logged.lines[0] == ("exception", "vlforge alert through vlforge_slack failed")


def test_failure_message_names_the_task_and_the_error() -> None:
    class _Ti:
        dag_id, task_id, run_id = "vlforge_release", "gate_quality", "manual__1"

    text = vlforge_notifiers.failure_message({"ti": _Ti(), "params": {"dataset": "shop"}, "exception": ValueError("iou 0.6")})
    assert text.splitlines() == [
        "vlforge: vlforge_release FAILED at task gate_quality (dataset shop, run manual__1).",
        "ValueError: iou 0.6",
    ]
