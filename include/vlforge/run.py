"""The run description: what every task of a run needs to find its inputs, as one small JSON-able value.

The ``prepare`` task (``vlforge.prepare``) validates the recipe, freezes it into the run folder and
returns this; every later task takes it and reads the recipe frozen there, never the editable YAML,
so a recipe edited mid-run cannot change a run half-way, and retries and mapped shards agree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vlforge.config import Recipe
from vlforge.layout import DatasetReleases, RunDir, store_root
from vlforge.store import ImageStore


@dataclass(frozen=True)
class RunDescription:
    """One run: where it lives, what it reads, and the run-wide choices (seed, augment phase).

    Attributes:
        home: ``VLFORGE_HOME``.
        dataset: the dataset (release) name.
        run: the run folder's name (``layout.run_folder_name`` of the Airflow run id).
        source: the export file or folder read by ingest (a path or an fsspec URI).
        source_format: the ingest adapter's name.
        images_root: an extra folder or URI where image references are looked up, or a list of them.
        seed: the seed of every random choice in the run.
        phase: the augment phase (``augment.phases``).
        dag_id, dag_run_id: the Airflow DAG run doing this run, when there is one.
    """

    home: Path
    dataset: str
    run: str
    source: str = ""
    source_format: str = "label_studio"
    images_root: str | list[str] | None = None
    seed: int = 0
    phase: str = "main"
    dag_id: str | None = None
    dag_run_id: str | None = None

    @property
    def run_dir(self) -> RunDir:
        return RunDir.of(self.home, self.dataset, self.run)

    @property
    def releases(self) -> DatasetReleases:
        return DatasetReleases.of(self.home, self.dataset)

    @property
    def store_dir(self) -> Path:
        return store_root(self.home)

    @property
    def store(self) -> ImageStore:
        return ImageStore(self.store_dir)

    @cached_property
    def recipe(self) -> Recipe:
        """The recipe frozen in the run folder by ``prepare``."""
        path = self.run_dir.recipe
        if not path.is_file():
            raise FileNotFoundError(f"run {self.run_dir.path} has no frozen recipe at {path}: run the prepare task first")
        return Recipe.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def source_record(self) -> dict[str, Any]:
        """What the run read, as ``RELEASE.json`` records it."""
        record: dict[str, Any] = {"source": self.source, "source_format": self.source_format, "images_root": self.images_root}
        if self.dag_run_id:
            record["dag_run"] = {"dag_id": self.dag_id, "run_id": self.dag_run_id}
        return record

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "home": str(self.home)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RunDescription:
        return cls(**{**value, "home": Path(value["home"])})
