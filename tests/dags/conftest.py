"""DAG tests: a throw-away Airflow home, migrated once per session (see ``tests/airflow_testenv.py``)."""

from airflow_testenv import airflow_db, dagbag, vlforge_home  # noqa: F401 - fixtures
from support.postgres_catalog import postgres_catalog  # noqa: F401 - fixture: the catalog on PostgreSQL
