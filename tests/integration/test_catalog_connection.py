"""The release DAG records its release in the PostgreSQL catalog that the Airflow connection ``vlforge_catalog`` names.

This is the scale-out path: Celery workers share one catalog on the metadata
database's server instead of a SQLite file under ``VLFORGE_HOME``. A fresh
database is created on ``$VLFORGE_TEST_POSTGRES_URL`` (default the machine's
PostgreSQL) and dropped afterwards; the test is skipped, saying why, only when
the server cannot be reached.
"""

from __future__ import annotations

from pathlib import Path

from support.recipes import DEMO_REAL_ONLY_RECIPE

from vlforge.catalog import open_catalog


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
