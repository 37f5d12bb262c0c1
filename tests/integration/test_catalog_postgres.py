"""The release catalog's tests on PostgreSQL: every test of ``tests/unit/test_catalog.py`` that opens a catalog.

Each test gets a fresh database with a unique name on the server at
``$VLFORGE_TEST_POSTGRES_URL`` (default ``postgresql+psycopg2://postgres@127.0.0.1:5432/test``),
dropped afterwards. The tests are skipped, saying why, only when the server
cannot be reached.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

SERVER_URL = os.environ.get("VLFORGE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

# The unit module is imported by name (as pytest itself imports it) so that its asserts are rewritten.
_UNIT_DIR = str(Path(__file__).resolve().parent.parent / "unit")
if _UNIT_DIR not in sys.path:
    sys.path.insert(0, _UNIT_DIR)
_unit = importlib.import_module("test_catalog")
assert Path(_unit.__file__).resolve().parent == Path(_UNIT_DIR), f"another test_catalog module: {_unit.__file__}"

catalog = _unit.catalog
two_releases = _unit.two_releases
_SHARED = {
    name: test
    for name, test in vars(_unit).items()
    if name.startswith("test_") and {"catalog", "catalog_url", "two_releases"} & set(inspect.signature(test).parameters)
}
globals().update(_SHARED)


@pytest.fixture(scope="module")
def server() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the server's maintenance database (CREATE/DROP DATABASE run outside transactions)."""
    engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as error:
        engine.dispose()
        pytest.skip(f"PostgreSQL unreachable at {make_url(SERVER_URL).render_as_string()}: {error.orig}")
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_url(server: Engine) -> Iterator[str]:
    name = f"vlforge_catalog_test_{uuid.uuid4().hex[:12]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_every_catalog_test_runs_here_too() -> None:
    assert len(_SHARED) >= 15, sorted(_SHARED)
    assert "test_concurrent_promotions_leave_exactly_one_current" in _SHARED
    assert "test_cli_diff" in _SHARED


def test_postgres_has_the_partial_unique_index(catalog_url: str) -> None:
    from vlforge.catalog import open_catalog

    with open_catalog(catalog_url) as opened, opened.engine.connect() as connection:
        definition = connection.execute(
            text("select indexdef from pg_indexes where indexname = 'uq_vlforge_releases_one_current'")
        ).scalar_one()
    assert definition.startswith("CREATE UNIQUE INDEX") and definition.endswith("(dataset) WHERE (is_current = true)")
