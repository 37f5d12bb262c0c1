"""The task-instance host name a worker reports: its own name when given one, else the machine's."""

from __future__ import annotations

import socket

import pytest

from vlforge.hostname import WORKER_HOSTNAME_ENV, worker_hostname


@pytest.mark.parametrize(("value", "expected"), [("w1.host-a", "w1.host-a"), (" w2.host-a ", "w2.host-a"), ("", None), ("  ", None)])
def test_worker_hostname(monkeypatch, value: str, expected: str | None) -> None:
    monkeypatch.setenv(WORKER_HOSTNAME_ENV, value)
    assert worker_hostname() == (expected or socket.getfqdn())


def test_worker_hostname_without_the_variable_is_the_machines(monkeypatch) -> None:
    monkeypatch.delenv(WORKER_HOSTNAME_ENV, raising=False)
    assert worker_hostname() == socket.getfqdn()
