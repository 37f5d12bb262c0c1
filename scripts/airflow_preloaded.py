"""``airflow`` with the vlforge modules a DAG's tasks import already loaded: ``scripts/run_dag.sh`` runs it.

The LocalExecutor forks its workers from the ``airflow dags test --use-executor`` process, and each
worker forks one process per task instance; a module loaded before the fork is already loaded in
every task, so the imports a task does first (vlforge's stages, Great Expectations, albumentations,
pandas: 3-4 s on a busy 2-core machine) are paid once per run instead of once per task instance.
Which modules: every ``vlforge`` module that the DAG's file imports anywhere (its tasks import inside
their bodies), read from the file's syntax tree. Nothing runs at DAG parse time that did not before,
torch is not among them (vlforge imports it only where a model is used), and the arguments go to
Airflow's own CLI unchanged. With ``VLFORGE_WAIT_FOR_URL`` set it then waits for that URL to answer
(the Execution API server that ``run_dag.sh`` starts meanwhile), so the two start-ups overlap.

    python scripts/airflow_preloaded.py dags test --use-executor DAG_ID -c CONF
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
import time
from pathlib import Path


def task_modules(dag_file: Path) -> list[str]:
    """Every ``vlforge`` module ``dag_file`` imports, at any depth of its syntax tree, sorted."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(dag_file.read_text(encoding="utf-8"), filename=str(dag_file))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return sorted(name for name in found if name.split(".")[0] == "vlforge")


def preload(dag_id: str) -> None:
    """Import the modules of ``$AIRFLOW__CORE__DAGS_FOLDER/<dag_id>.py`` (one file per DAG); none when it is not there."""
    dag_file = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", "dags")) / f"{dag_id}.py"
    if not dag_file.is_file():
        return
    started = time.perf_counter()
    modules = task_modules(dag_file)
    for name in modules:
        importlib.import_module(name)
    print(f"preloaded {len(modules)} vlforge modules of {dag_file.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def wait_for(url: str, timeout_s: float = 300.0) -> None:
    """Wait until ``url`` answers (the Execution API server's health), at most ``timeout_s`` seconds."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError as error:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{url} did not answer within {timeout_s:.0f} s ({error}); run_dag.sh logs the API server to "
                    "$AIRFLOW_HOME/logs/run_dag_api_server.log"
                ) from error
            time.sleep(0.2)


def main() -> None:
    args = sys.argv[1:]
    positional = [arg for arg in args if not arg.startswith("-")]
    if positional[:2] == ["dags", "test"] and len(positional) > 2:
        preload(positional[2])
    if os.environ.get("VLFORGE_WAIT_FOR_URL"):  # the API server started beside this process (run_dag.sh)
        wait_for(os.environ["VLFORGE_WAIT_FOR_URL"])
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *args]
    airflow_main()


if __name__ == "__main__":
    main()
