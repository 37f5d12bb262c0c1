"""The release DAG records its release in the PostgreSQL catalog that the Airflow connection ``vlforge_catalog`` names.

This is the scale-out path: Celery workers share one catalog on the metadata
database's server instead of a SQLite file under ``VLFORGE_HOME``. A fresh
database is created on ``$VLFORGE_TEST_POSTGRES_URL`` (default the machine's
PostgreSQL) and dropped afterwards; the test is skipped, saying why, only when
the server cannot be reached.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from support.recipes import DEMO_REAL_ONLY_RECIPE

from vlforge.catalog import open_catalog

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


def test_the_release_is_recorded_in_the_connections_catalog(
    dagbag, vlforge_home: Path, demo_export: Path, postgres_catalog: str
) -> None:
    from airflow.utils.state import DagRunState

    run = dagbag.get_dag("vlforge_release").test(
        run_conf={"source": str(demo_export), "source_format": "label_studio", "dataset": "pgcatalog", "recipe": DEMO_REAL_ONLY_RECIPE}
    )
    assert run.state == DagRunState.SUCCESS
    version = (vlforge_home / "releases" / "pgcatalog" / "LATEST").read_text().strip()
    with open_catalog(postgres_catalog) as catalog:
        (row,) = catalog.list_releases("pgcatalog")
        assert row["version"] == version and catalog.current("pgcatalog")["version"] == version
    if (vlforge_home / "catalog.sqlite").exists():  # written by other tests' runs, never by this one
        with open_catalog(f"sqlite:///{vlforge_home / 'catalog.sqlite'}") as local:
            assert local.list_releases("pgcatalog") == []
