"""Airflow with the CeleryExecutor as local processes: the scale-out deployment without Docker.

``CeleryCluster`` starts what ``docker-compose.yaml`` runs as containers (api-server, scheduler,
dag-processor and named Celery workers) as process groups of this machine, on the PostgreSQL and
Redis servers at 127.0.0.1:5432 and 127.0.0.1:6379. Each cluster gets a database of its own
(``vlforge_celery_test_<pid>_<n>``, copied from a migrated template database and dropped at exit)
and a Redis database number of its own (claimed with a key, flushed at exit). Each worker gets its
own log-server port and host name: ``vlforge.hostname.worker_hostname`` makes the host name Airflow
stores on a task instance the worker's own, so the task instance shows which worker ran it.

Used by ``tests/integration/test_celery.py`` and ``bench/bench_celery.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psutil

REPO = Path(__file__).resolve().parents[2]
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DAG_ID = "vlforge_release"
# Redis numbers 1-15 (0 is the default every other user takes); a cluster claims a free one with this key.
_REDIS_CLAIM = "vlforge:celery-cluster-owner"
_counter = itertools.count()


def unavailable_reason() -> str | None:
    """Why a cluster cannot start here (PostgreSQL or Redis do not answer), or ``None`` when both do."""
    import psycopg2
    import redis

    try:
        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        return f"PostgreSQL does not answer on 127.0.0.1:5432 as user postgres: {str(error).strip()}"
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT}: {error}"
    return None


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


@dataclass
class Service:
    """One started process group: an Airflow component or a Celery worker."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    hostname: str | None = None  # workers: the host name their task instances carry

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole tree: the group, and descendants that made groups of their own (task processes)."""
        try:
            tree = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        groups = {self.process.pid}
        for proc in tree:
            try:
                groups.add(os.getpgid(proc.pid))
            except ProcessLookupError:
                pass  # ended meanwhile
        for group in groups:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])


class CeleryCluster:
    """Airflow on PostgreSQL and Redis with ``workers`` Celery workers, all local processes.

    Use as a context manager: every process group is ended and the database and Redis number are
    released on exit, whatever happened inside.

    Args:
        root: a fresh folder for the Airflow home, logs and ``VLFORGE_HOME`` (``root/vlforge``).
        workers: how many Celery workers (``w1``, ``w2``, ...).
        concurrency: task slots per worker.
        env: more environment for every process.
    """

    def __init__(self, root: Path, workers: int = 2, concurrency: int = 1, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.vlforge_home = root / "vlforge"
        self.database = f"vlforge_celery_test_{os.getpid()}_{next(_counter)}"
        self.redis_db: int | None = None
        self.port = free_port()
        self.worker_count, self.concurrency = workers, concurrency
        self.services: dict[str, Service] = {}
        self._token: str | None = None
        home = root / "airflow"
        url = f"{POSTGRES}/{self.database}"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url,  # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "vlforge.hostname.worker_hostname",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            # A worker killed mid-task stops heart-beating: its task is failed (then retried) after this, not 5 minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "VLFORGE_HOME": str(self.vlforge_home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1",
            "NO_ALBUMENTATIONS_UPDATE": "1",
            "GX_ANALYTICS_ENABLED": "False",
            **(env or {}),
        }
        self.env.pop("VLFORGE_WORKER_HOSTNAME", None)

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Database, Redis number, then api-server, scheduler, dag-processor and the workers; returns when the DAG is parsed."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._create_database()
        self._claim_redis()
        for component in ("api-server", "scheduler", "dag-processor"):
            self._spawn(component, ["airflow", *component.split()])
        self._wait_for_api()
        for number in range(1, self.worker_count + 1):
            self.start_worker(f"w{number}")
        self._wait_for_dag()

    def start_worker(self, name: str) -> Service:
        """Start Celery worker ``name`` (``-H name@host``) with its own log-server port and task-instance host name."""
        hostname = f"{name}.{socket.gethostname()}"
        env = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()), "VLFORGE_WORKER_HOSTNAME": hostname}
        command = ["airflow", "celery", "worker", "-H", f"{name}@{socket.gethostname()}", "--concurrency", str(self.concurrency),
                   "--without-mingle", "--without-gossip"]
        service = self._spawn(name, command, env)
        service.hostname = hostname
        self._wait_for(lambda: " ready." in service.log.read_text(errors="replace"), f"worker {name} ready", 120, service)
        return service

    def stop(self) -> None:
        """End every process group (SIGTERM, then SIGKILL after 10 s), drop the database, flush the Redis number."""
        for service in self.services.values():
            service.kill(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for service in self.services.values():
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            service.kill(signal.SIGKILL)  # stragglers and task processes in groups of their own
            service.process.wait()
        self._drop_database()
        self._release_redis()

    @property
    def workers(self) -> list[str]:
        """The names of the workers started, killed ones included."""
        return [name for name, service in self.services.items() if service.hostname is not None]

    def kill_worker(self, name: str) -> None:
        """SIGKILL worker ``name`` and every process under it, as when its machine dies."""
        service = self.services[name]
        service.kill(signal.SIGKILL)
        service.process.wait()

    # --- REST API --------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the public REST API (``/api/v2`` + ``path``) with a token of the all-admins auth manager."""
        if self._token is None:
            self._token = self._request("GET", "/auth/token")["access_token"]
        return self._request(method, "/api/v2" + path, body, {"Authorization": f"Bearer {self._token}"})

    def trigger(self, conf: dict[str, Any]) -> str:
        """Trigger ``vlforge_release`` through the REST API; returns the run id."""
        return str(self.api("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"])

    def wait(self, run_id: str, timeout: float = 600, on_poll: Callable[[], None] | None = None) -> str:
        """Poll the run every second (calling ``on_poll``) until it succeeds or fails; returns its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return str(state)
            if on_poll is not None:
                on_poll()
            time.sleep(1)
        raise TimeoutError(f"run {run_id} not finished after {timeout:.0f} s\n{self.tails()}")

    def wait_for_triggered_run(self, dag_id: str, timeout: float = 300) -> dict[str, Any]:
        """The first asset-triggered run of ``dag_id`` once it has finished (the scheduler makes it from an asset event)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [run for run in self.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"] if run["run_type"] == "asset_triggered"]
            if runs and runs[0]["state"] in ("success", "failed"):
                return dict(runs[0])
            time.sleep(1)
        raise TimeoutError(f"no asset-triggered run of {dag_id} finished after {timeout:.0f} s\n{self.tails()}")

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones one per shard), as the REST API gives them."""
        return list(self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"])

    def tries(self, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        """Every try of one task instance, oldest first, with the host name each ran on."""
        found = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries")
        return sorted(found["task_instances"], key=lambda item: item["try_number"])

    def tails(self, lines: int = 40) -> str:
        """The last lines of every process's log: what a failed test prints."""
        return "\n".join(service.tail(lines) for service in self.services.values())

    # --- internals -------------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Service:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        executable = str(Path(sys.executable).with_name(command[0]))
        with log.open("ab") as out:
            process = subprocess.Popen(
                [executable, *command[1:]], env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root,
            )
        self.services[name] = Service(name, process, log)
        return self.services[name]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: HTTP {error.code}: {error.read().decode(errors='replace')[:2000]}") from error

    def _wait_for(self, ready: Callable[[], bool], what: str, timeout: float, service: Service | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for running in self.services.values():
                if running.process.poll() is not None:
                    raise RuntimeError(f"{running.name} exited with {running.process.returncode} while waiting for {what}\n"
                                       f"{running.tail(80)}")
            try:
                if ready():
                    return
            except (OSError, RuntimeError):
                pass  # not up yet
            time.sleep(1)
        raise TimeoutError(f"{what}: not after {timeout:.0f} s\n{service.tail(80) if service else self.tails()}")

    def _wait_for_api(self) -> None:
        def healthy() -> bool:
            health = self._request("GET", "/api/v2/monitor/health")
            return health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy"

        self._wait_for(healthy, f"the API server on port {self.port} and a healthy scheduler", 180)

    def _wait_for_dag(self) -> None:
        self._wait_for(lambda: bool(self.api("GET", f"/dags/{DAG_ID}")), f"DAG {DAG_ID} parsed by the dag-processor", 180)

    @contextmanager
    def _server(self) -> Iterator[Any]:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()

    def _create_database(self) -> None:
        """Copy the migrated template database into this cluster's; migrate the template first if it is missing.

        ``airflow db migrate`` runs once per Airflow version (about 5 s here); copying the template takes a second.
        """
        import psycopg2.errors

        template = "vlforge_celery_template_" + _airflow_version().replace(".", "_")
        with self._server() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
            exists = cursor.fetchone() is not None
        if not exists:
            building = f"{template}_building_{os.getpid()}"
            with self._server() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{building}"')
                cursor.execute(f'CREATE DATABASE "{building}"')
            migrate = subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                env={**self.env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{POSTGRES}/{building}"},
                capture_output=True, text=True, cwd=self.root, timeout=600, check=False,
            )
            if migrate.returncode != 0:
                output = migrate.stdout[-3000:] + migrate.stderr[-3000:]
                raise RuntimeError(f"airflow db migrate into {building} failed:\n{output}")
            with self._server() as cursor:  # renamed only once whole: a half-migrated template is never used
                try:
                    cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
                except psycopg2.errors.DuplicateDatabase:  # another process made the template meanwhile
                    cursor.execute(f'DROP DATABASE IF EXISTS "{building}"')
        with self._server() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.database}" TEMPLATE "{template}"')

    def _drop_database(self) -> None:
        with self._server() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _claim_redis(self) -> None:
        import redis

        for number in range(15, 0, -1):
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
            if client.set(_REDIS_CLAIM, str(os.getpid()), nx=True):
                if client.dbsize() == 1:
                    self.redis_db = number
                    self.env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
                    return
                client.delete(_REDIS_CLAIM)  # someone else's data lives there
        raise RuntimeError(f"no free Redis database number on {REDIS_HOST}:{REDIS_PORT} (1-15 all hold data)")

    def _release_redis(self) -> None:
        import redis

        if self.redis_db is not None:
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db).flushdb()
            self.redis_db = None
