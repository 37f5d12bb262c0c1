"""Plugin tests: Airflow's throw-away home (see ``tests/airflow_testenv.py``), a JWT secret, and three real releases."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Before airflow is imported (airflow_testenv asserts it is not yet): tokens signed in-process must verify.
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "vlforge-dashboard-tests")

from airflow_testenv import airflow_db, vlforge_home  # noqa: E402, F401 - fixtures
from dashboard_releases import DashboardReleases, build_releases  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))  # as Airflow does for its plugins folder


@pytest.fixture(scope="session")
def dashboard_releases(tmp_path_factory: pytest.TempPathFactory) -> DashboardReleases:
    """Three releases of ``demo`` (the last one held), published and recorded in a catalog of their own."""
    return build_releases(Path(tmp_path_factory.mktemp("dashboard")))
