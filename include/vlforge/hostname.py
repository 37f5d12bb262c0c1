"""The name a worker gives Airflow for a task instance's ``hostname``: one per worker, even on one machine.

Airflow records the result of ``[core] hostname_callable`` on every task instance it runs. Its
default, the machine's fully qualified name, is the same for every Celery worker on one machine,
so which worker ran a shard cannot be told. With
``AIRFLOW__CORE__HOSTNAME_CALLABLE=vlforge.hostname.worker_hostname`` and
``VLFORGE_WORKER_HOSTNAME`` set per worker (e.g. ``w1.host-a``), each worker's task instances carry
its own name. A container per worker (docs/deploy.md) needs neither: the container's host name differs.
"""

from __future__ import annotations

import os
import socket

WORKER_HOSTNAME_ENV = "VLFORGE_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """``$VLFORGE_WORKER_HOSTNAME`` when set and not blank, else the machine's fully qualified name.

    Returns:
        The host name Airflow stores on the task instance.
    """
    return os.environ.get(WORKER_HOSTNAME_ENV, "").strip() or socket.getfqdn()
