"""``docker-compose.yaml`` is a valid Compose file and wires the scale-out deployment as docs/deploy.md says.

No Docker engine is needed: the file (its YAML anchors and merge keys resolved, as Compose does) is
validated against the Compose Specification's JSON schema (``tests/data/compose_spec``), and then
read for what the schema cannot know: every component present, dependencies that exist, the
project's folders mounted, and one ``VLFORGE_HOME`` volume shared by every Airflow container.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "data" / "compose_spec" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
    "airflow-cli": None,
    "flower": "celery flower",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))


def test_the_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    errors = [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
              for error in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_what_compose_would(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-worker"]["depends_on"]["redis"]["condition"] = "service_up"
    broken["services"]["airflow-scheduler"]["restrat"] = "always"
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert len(list(validator.iter_errors(broken))) == 2


def test_every_component_of_the_celery_deployment_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", *AIRFLOW_SERVICES}
    for name, command in AIRFLOW_SERVICES.items():
        if command:
            assert services[name]["command"] == command, name
    assert services["airflow-worker"]["deploy"]["replicas"] == "${VLFORGE_WORKERS:-2}"
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert set(services["airflow-cli"]["profiles"]) == {"debug"} and set(services["flower"]["profiles"]) == {"flower"}


def test_dependencies_name_services_that_exist_and_wait_for_health_or_the_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for needed, rule in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            wanted = "service_completed_successfully" if needed == "airflow-init" else "service_healthy"
            assert rule["condition"] == wanted, f"{name} -> {needed}"
            assert wanted != "service_healthy" or "healthcheck" in services[needed], f"{needed} has no healthcheck"
    for name in AIRFLOW_SERVICES.keys() - {"airflow-init", "airflow-cli"}:
        assert "airflow-init" in services[name]["depends_on"], name


def test_every_airflow_container_shares_code_config_and_the_vlforge_home_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
        metadata_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert metadata_db.startswith("postgresql+psycopg2://") and "@postgres/" in metadata_db
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${VLFORGE_JWT_SECRET:?"), "a required secret, never a default"
        assert env["AIRFLOW_CONN_VLFORGE_CATALOG"].endswith("@postgres:5432/vlforge_catalog")
        mounts = dict(volume.rsplit(":", 1) for volume in service["volumes"])
        assert mounts["vlforge-data"] == env["VLFORGE_HOME"] == "/opt/vlforge/data", name
        for folder in ("dags", "include", "plugins"):
            assert mounts[f"${{AIRFLOW_PROJ_DIR:-.}}/{folder}"] == f"/opt/airflow/{folder}", name
            assert (REPO / folder).is_dir()
        assert env["PYTHONPATH"] == "/opt/airflow/include"
    assert set(compose["volumes"]) == {"postgres-db-volume", "vlforge-data"}
    # The catalog's database is created by the postgres image's init folder, from a file in this repository.
    (init_mount,) = [volume for volume in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in volume]
    init_folder = REPO / init_mount.removeprefix("${AIRFLOW_PROJ_DIR:-.}/").split(":")[0]
    assert re.search(r"CREATE DATABASE vlforge_catalog\b", "".join(path.read_text() for path in init_folder.glob("*.sql")))


def test_every_variable_has_a_default_except_the_secret(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    variables = re.findall(r"(?<!\$)\$\{([A-Z_]+)([^}]*)\}", body)
    assert {name for name, rest in variables if not rest.startswith((":-", ":?"))} == set()
    assert {name for name, rest in variables if rest.startswith(":?")} == {"VLFORGE_JWT_SECRET"}
