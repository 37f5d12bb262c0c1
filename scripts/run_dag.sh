#!/usr/bin/env bash
# Run one DAG to the end on this machine with its mapped tasks in parallel, one task process per core:
#   scripts/run_dag.sh DAG_ID CONF_JSON
# `airflow dags test` alone runs every task instance one after another in its own process; with
# --use-executor it hands them to the LocalExecutor, whose workers run up to
# AIRFLOW__CORE__PARALLELISM tasks at once (default here: every core, VLFORGE_CORES to change it), each
# with OMP_NUM_THREADS threads for torch (the cores shared out among them).
# Those task processes talk to Airflow through the Execution API, so an API server serving that app
# alone is started first on a free local port, with a JWT secret shared with the executor, and
# stopped (its whole process group) when the run ends, whatever its outcome. The run itself goes
# through scripts/airflow_preloaded.py, which loads the DAG's vlforge modules once before the
# executor forks its task processes. Exits with the run's status; the API server's log is
# $AIRFLOW_HOME/logs/run_dag_api_server.log.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DAG_ID CONF_JSON" >&2; exit 2; }
dag_id=$1 conf=$2
: "${AIRFLOW_HOME:?set AIRFLOW_HOME (the Makefile does)}"
airflow=${AIRFLOW_BIN:-airflow}
python=$(dirname "$(command -v "$airflow")")/python

export AIRFLOW__CORE__PARALLELISM=${VLFORGE_CORES:-$(nproc)}
# Threads per task for torch and other OpenMP code: the cores shared out among the tasks running side by side.
# Two augment shards each scoring paraphrases on every core ran that step 2.5-3x slower than with one thread each.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / AIRFLOW__CORE__PARALLELISM > 1 ? $(nproc) / AIRFLOW__CORE__PARALLELISM : 1 ))}
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__API_AUTH__JWT_SECRET=${AIRFLOW__API_AUTH__JWT_SECRET:-$("$python" -c 'import secrets; print(secrets.token_hex(32))')}
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$port/execution/
# `dags test` queues every mapped task at once; a task token's default life (600 s) ran out for shards that
# waited longer in the queue ("Invalid auth token", and the run then waited forever): one day instead.
export AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME=${AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME:-86400}
# A task's supervisor checks whether its task process has exited between waits of this many seconds (default 5):
# a large process (a gate with Great Expectations loaded) often ends just after the first check, and its worker,
# one of the VLFORGE_CORES, then sat idle for 5 s more before taking the next task. Heartbeats go as often.
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL=${AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL:-1}

mkdir -p "$AIRFLOW_HOME/logs"
server_log=$AIRFLOW_HOME/logs/run_dag_api_server.log
health=http://127.0.0.1:$port/execution/health
# Through airflow_preloaded.py too: the server starts with Python's cyclic garbage collector off until it answers.
VLFORGE_WAIT_FOR_URL=$health setsid "$python" "$(dirname "$0")/airflow_preloaded.py" api-server --apps execution \
    -H 127.0.0.1 -p "$port" > "$server_log" 2>&1 &
server=$!
# KILL, not TERM: once the run has ended the server has nothing to finish, and after a TERM its Python teardown
# (every Airflow module) kept the run waiting 10 s or more on a busy machine.
trap 'kill -KILL -- -"$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true' EXIT
# The API server and the preloading run side by side; airflow_preloaded.py waits for the server's health.
VLFORGE_WAIT_FOR_URL=$health "$python" "$(dirname "$0")/airflow_preloaded.py" dags test --use-executor "$dag_id" -c "$conf"
