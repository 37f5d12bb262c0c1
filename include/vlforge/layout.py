"""Where vlforge keeps things under ``VLFORGE_HOME`` (default ``./data``).

- ``store/images/``: the content-addressed image store shared by every dataset and worker;
- ``runs/<dataset>/<run>/``: a run's staged manifest, quarantine and gate results;
- ``releases/<dataset>/<version>/``: published releases, never modified once renamed into place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A run's stage folder: ingest writes every round, the agreement stage the samples to release.
INGESTED = "ingested.parquet"
MANIFEST = "manifest.parquet"
AGREEMENT = "agreement.parquet"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def vlforge_home() -> Path:
    return Path(os.environ.get("VLFORGE_HOME", "data")).resolve()


def checked_name(kind: str, value: str) -> str:
    """Dataset and run names become folder names: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _SAFE_NAME.match(value):
        raise ValueError(f"{kind} {value!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def store_root(home: Path) -> Path:
    return home / "store" / "images"


def stage_dir(home: Path, dataset: str, run: str) -> Path:
    return home / "runs" / checked_name("dataset", dataset) / checked_name("run", run)


def releases_dir(home: Path, dataset: str) -> Path:
    return home / "releases" / checked_name("dataset", dataset)


def run_folder_name(run_id: str) -> str:
    """An Airflow run id (``manual__2026-11-23T10:00:00+00:00``) as a folder name."""
    return checked_name("run", re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:128])
