"""The run description: what every task of a run needs to find its inputs, as one small JSON-able value.

The ``prepare`` task (``vlforge.prepare``) validates the recipe, freezes it into the run folder and
returns this; every later task takes it and reads the recipe frozen there, never the editable YAML,
so a recipe edited mid-run cannot change a run half-way, and retries and mapped shards agree.

A task opens the run with ``working()``: with a local ``VLFORGE_HOME`` that is the run itself; with an
object store it is a local working copy of the run folder, uploaded back when the task ends (ADR 0012).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from vlforge.config import Recipe
from vlforge.layout import DatasetReleases, ObjectStoreUnsupported, RunDir, is_object_store, store_root
from vlforge.storage import ObjectStoreHome, ObjectStoreImages, relative_key
from vlforge.store import ImageStore


@dataclass(frozen=True)
class RunDescription:
    """One run: where it lives, what it reads, and the run-wide choices (seed, augment phase).

    Attributes:
        home: ``VLFORGE_HOME``: a local folder, or an object store's URI (``layout.parse_home``).
        dataset: the dataset (release) name.
        run: the run folder's name (``layout.run_folder_name`` of the Airflow run id).
        source: the export file or folder read by ingest (a path or an fsspec URI).
        source_format: the ingest adapter's name.
        images_root: an extra folder or URI where image references are looked up, or a list of them.
        seed: the seed of every random choice in the run.
        phase: the augment phase (``augment.phases``).
        dag_id, dag_run_id: the Airflow DAG run doing this run, when there is one.
        working_copy: with an object-store home, the task's local copy of it (``working()``); not passed on.
    """

    home: Path | str
    dataset: str
    run: str
    source: str = ""
    source_format: str = "label_studio"
    images_root: str | list[str] | None = None
    seed: int = 0
    phase: str = "main"
    dag_id: str | None = None
    dag_run_id: str | None = None
    working_copy: Path | None = field(default=None, compare=False, repr=False)

    @property
    def local_home(self) -> Path:
        """The folder tasks read and write: ``home`` itself, or with an object store the working copy.

        Raises:
            ObjectStoreUnsupported: ``home`` is an object store and this is not a working copy: writing
                beside the current folder instead would lose the task's output.
        """
        if not is_object_store(self.home):
            return Path(self.home)
        if self.working_copy is None:
            raise ObjectStoreUnsupported(
                f"run {self.dataset}/{self.run} lives on the object store VLFORGE_HOME={self.home}: open it with "
                "RunDescription.working(), which downloads the run folder and uploads what the task wrote"
            )
        return self.working_copy

    @cached_property
    def object_store(self) -> ObjectStoreHome | None:
        """The object store holding ``home``, or ``None`` for a local ``home``."""
        return ObjectStoreHome(str(self.home)) if is_object_store(self.home) else None

    @property
    def run_dir(self) -> RunDir:
        return RunDir.of(self.local_home, self.dataset, self.run)

    @property
    def releases(self) -> DatasetReleases:
        return DatasetReleases.of(self.local_home, self.dataset)

    @property
    def store_dir(self) -> Path:
        return store_root(self.local_home)

    @property
    def store(self) -> ImageStore:
        if self.object_store is not None:
            return ObjectStoreImages(self.store_dir, self.object_store)
        return ImageStore(self.store_dir)

    @contextmanager
    def working(self) -> Iterator[RunDescription]:
        """The run as one task works on it.

        A local home is shared as it is: this yields the run itself. With an object store, this yields a
        copy of the run whose home is a fresh local folder holding the run folder's files; when the task
        ends, failed or not (as a local run folder keeps a failed task's files), the files it added or
        changed are uploaded and the ones it deleted removed. Images go to the store as they are put.

        Yields:
            The run description to hand to the task's function.
        """
        shared = self.object_store
        if shared is None:
            yield self
            return
        with tempfile.TemporaryDirectory(prefix="vlforge-task-") as scratch:
            local = replace(self, working_copy=Path(scratch))
            folder = relative_key(RunDir.of(Path(), self.dataset, self.run).path)
            before = shared.download_folder(folder, local.run_dir.path)
            try:
                yield local
            except BaseException as error:
                # An error names files of the working copy, which goes with the task: say where they went.
                error.add_note(f"this task's working copy {local.local_home} is uploaded to {shared.url(folder)}")
                raise
            finally:
                shared.upload_changes(folder, local.run_dir.path, before)

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
        description = {key: value for key, value in asdict(self).items() if key != "working_copy"}
        return {**description, "home": str(self.home)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RunDescription:
        home = value["home"]
        return cls(**{**value, "home": home if is_object_store(home) else Path(home)})
