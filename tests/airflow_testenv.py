"""Point Airflow at a throw-away home and metadata DB before anything imports airflow; fixtures for DAG tests.

Airflow reads its configuration once, at ``import airflow``. Every test folder
that runs DAGs imports this module from its ``conftest.py`` (``tests/`` is on
``sys.path`` through ``tests/conftest.py``), which pytest loads before the test
modules: early enough, and once per session, so all DAG tests share one Airflow
home, one metadata DB and one ``VLFORGE_HOME``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="vlforge_airflow_"))
_VLFORGE_HOME = _HOME / "vlforge"

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        # dag.test() needs the DAG file inside the dags folder to serialise it.
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "VLFORGE_HOME": str(_VLFORGE_HOME),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")])),
    }
)
assert "airflow" not in sys.modules, "airflow was imported before tests/dags/conftest.py set AIRFLOW_HOME"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return _HOME


@pytest.fixture(scope="session")
def vlforge_home() -> Path:
    return _VLFORGE_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path):  # noqa: ANN201 - airflow is imported lazily, after the environment is set
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))
