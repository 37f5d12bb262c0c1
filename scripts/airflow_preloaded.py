"""``airflow`` with the vlforge modules a DAG's tasks import already loaded: ``scripts/run_dag.sh`` runs it.

The LocalExecutor forks its workers from the ``airflow dags test --use-executor`` process, and each
worker forks one process per task instance; a module loaded before the fork is already loaded in
every task, so the imports a task does first (vlforge's stages, Great Expectations, albumentations,
pandas: 3-4 s on a busy 2-core machine) are paid once per run instead of once per task instance.
Which modules: every ``vlforge`` module that the DAG's file imports anywhere (its tasks import inside
their bodies), read from the file's syntax tree; and where those load vlforge's BERTScore (the augment
shards' paraphrase filter, the quality stage's agreement), the modules that making its scorer
imports (``SCORER_MODULES``: torch, tokenizers and safetensors for the shipped MiniLM; no longer
transformers), about 2 s that every augment shard paid before. They
are imported, not run: no torch thread pool exists yet when the executor forks, so the task processes
start their own. Nothing runs at DAG parse time that did not before, and the arguments go to
Airflow's own CLI unchanged. With ``VLFORGE_WAIT_FOR_URL`` set it asks that URL (the Execution API
server that ``run_dag.sh`` starts meanwhile) from a thread while it preloads: the server does most of
its start-up on its first request (10 s on a busy machine), so that work overlaps the preloading too.

Where they load Great Expectations, the standard library's MIME tables are read too (``mimetypes``):
each gate's Data Docs look up the type of every static file they copy, and read those tables first.

Python's cyclic garbage collector is off while the modules load, and what they made is then frozen
(``gc.freeze``) so that no later collection, here or in a forked task, walks it again
(``collector_off_then_frozen``).

``airflow dags test --use-executor`` looks at the run again only after a one-second sleep whenever no
task is ready to queue (``Dag.test`` calls ``time.sleep(1)``): about half a second lost at each of the
release DAG's twenty steps. That one sleep is replaced by a wait on the executor's result queue, so the
loop wakes as soon as a task process ends, at most one second later as before; every other caller of
``time.sleep`` sleeps as it did. When Airflow's command returns, the process ends at once with its
status (``end_now``).

``run_dag.sh`` starts its Execution API server through this script too, with ``VLFORGE_WAIT_FOR_URL``
set to the server's own health: the collector is off until the server first answers, then what it built
is frozen and the collector is back on (``collector_off_until_answering``).

    python scripts/airflow_preloaded.py dags test --use-executor DAG_ID -c CONF
    VLFORGE_WAIT_FOR_URL=http://127.0.0.1:PORT/execution/health \\
        python scripts/airflow_preloaded.py api-server --apps execution -p PORT
"""

from __future__ import annotations

import ast
import gc
import importlib
import mimetypes
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
    scorer = sys.modules.get("vlforge.quality.metrics.bertscore")
    models = scorer.SCORER_MODULES if scorer is not None else ()
    for name in models:
        importlib.import_module(name)
    if "great_expectations" in sys.modules:
        # A gate's Data Docs ask for each static file's type, and the first ask reads the system's MIME tables: 0.2 s per gate.
        mimetypes.init()
    print(
        f"preloaded {len(modules)} vlforge modules of {dag_file.name}"
        + (f" and {len(models)} of BERTScore's model ({', '.join(models)})" if models else "")
        + f" in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


def wait_for(url: str, timeout_s: float = 300.0) -> None:
    """Wait until ``url`` answers (the Execution API server's health), at most ``timeout_s`` seconds."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # One patient request: the server's first answer is slow, and short timeouts only queue more requests behind it.
            urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())).close()
            return
        except OSError as error:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{url} did not answer within {timeout_s:.0f} s ({error}); run_dag.sh logs the API server to "
                    "$AIRFLOW_HOME/logs/run_dag_api_server.log"
                ) from error
            time.sleep(0.2)


def wake_dag_test_when_a_task_ends() -> None:
    """Make ``Dag.test``'s one-second sleep end as soon as the executor has a result to read.

    Only a ``time.sleep`` called by ``Dag.test`` itself, with an executor whose result queue can be
    polled (the LocalExecutor's), is replaced; the loop then reads the result and queues what follows.
    """
    from airflow.sdk.definitions.dag import DAG

    dag_test = DAG.test.__code__
    sleep = time.sleep

    def sleep_or_wait_for_a_result(seconds: float) -> None:
        caller = sys._getframe(1)
        sleep_until_a_result(seconds, caller.f_locals.get("executor") if caller.f_code is dag_test else None, sleep)

    time.sleep = sleep_or_wait_for_a_result


def sleep_until_a_result(seconds: float, executor: Any, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait ``seconds``, or less: until ``executor``'s result queue has something to read (None: just sleep)."""
    results = getattr(getattr(executor, "result_queue", None), "_reader", None)
    if results is None:
        sleep(seconds)
    else:
        results.poll(seconds)


@contextmanager
def collector_off_then_frozen() -> Iterator[None]:
    """No cyclic garbage collection in the block; what exists after it is frozen, where no collection looks again.

    While the modules load, the collector's full passes walked every object loaded so far: 1.5 s of the
    6.6 s that the release DAG's modules and Airflow's took to import. Freezing them before Airflow forks
    its task processes is what CPython's ``gc.freeze`` documentation advises for a process that forks: a
    full collection over those 720,000 objects took 0.4 s in every task that made enough objects to
    start one (reading a large manifest), and would touch every memory page the task shares with this process.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def collector_off_until_answering(url: str) -> None:
    """No cyclic garbage collection until ``url`` answers; then what exists is frozen and the collector is back on.

    For the Execution API server that ``run_dag.sh`` starts, ``url`` being its own health: it imports
    Airflow, and on its first request Cadwyn builds a router for each version of the API. That start-up
    (12 s on a busy 2-core machine, half of it in the first request) is what the first task waits for once
    the DAG's modules load in less, and the collector's full passes over what it builds are a part of it.
    """
    gc.disable()

    def when_answering() -> None:
        try:
            wait_for(url)
        finally:
            gc.freeze()
            gc.enable()

    threading.Thread(target=when_answering, name="collector-back-once-answering", daemon=True).start()


def main() -> None:
    args = sys.argv[1:]
    positional = [arg for arg in args if not arg.startswith("-")]
    server_url = os.environ.get("VLFORGE_WAIT_FOR_URL")  # the API server started beside this process (run_dag.sh)
    dag_test = positional[:2] == ["dags", "test"] and len(positional) > 2
    if positional[:1] == ["api-server"] and server_url:  # the server itself, started by run_dag.sh
        collector_off_until_answering(server_url)
        from airflow.__main__ import main as airflow_main
    else:
        with collector_off_then_frozen():
            with ThreadPoolExecutor(max_workers=1) as waiting:
                server_up = waiting.submit(wait_for, server_url) if server_url else None
                if dag_test:
                    preload(positional[2])
                # Airflow's configuration first, as its own entry point does: importing its modules in another order
                # can cycle. It and the command's module load (3 s) while the server may still be starting.
                from airflow.__main__ import main as airflow_main

                if dag_test:
                    importlib.import_module("airflow.cli.commands.dag_command")
                if server_up is not None:
                    server_up.result()
            if dag_test and "--use-executor" in args:
                wake_dag_test_when_a_task_ends()
    sys.argv = ["airflow", *args]
    try:
        airflow_main()
        status = 0
    except SystemExit as stop:  # Airflow's way to give the exit status, or a message and status 1
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        status = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
    end_now(status)


def end_now(status: int) -> None:
    """Flush the output and end the process without Python's teardown of every module it loaded.

    That teardown (Great Expectations, pandas, scipy, Airflow) took 9-15 s on a busy 2-core machine
    after the run had finished; by then the executor has joined its workers and every task's state is
    in the database, and no handler left at exit has anything to keep.
    """
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
