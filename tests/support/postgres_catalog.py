"""A fresh PostgreSQL database for the release catalog, named by the Airflow connection ``vlforge_catalog``.

The server is ``$VLFORGE_TEST_POSTGRES_URL`` (default the machine's PostgreSQL); the database is dropped
afterwards, and a test that asks for it is skipped, saying why, only when the server cannot be reached.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

SERVER_URL = os.environ.get("VLFORGE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database and the ``vlforge_catalog`` connection to it, in Airflow's own ``postgres://`` form."""
    server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with server.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as error:
        pytest.skip(f"PostgreSQL unreachable at {make_url(SERVER_URL).render_as_string()}: {error.orig}")
    name = f"vlforge_dag_catalog_{uuid.uuid4().hex[:12]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER_URL).set(database=name)
    connection_json = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username, "schema": name}
    monkeypatch.setenv("AIRFLOW_CONN_VLFORGE_CATALOG", json.dumps(connection_json))
    monkeypatch.delenv("VLFORGE_CATALOG_URL", raising=False)
    yield url.render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()
