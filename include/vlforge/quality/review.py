"""The review loop: items whose rounds disagree become Label Studio tasks for a reviewer.

Each task shows the image with every round as a ``prediction``, so the reviewer
adjudicates instead of starting over. The task keeps vlforge's item id in
``data.vlforge_item_id``; exporting the reviewed project and ingesting it beside
the original export (the reviewer's annotation is marked ground truth) releases
the adjudicated round in the next run.

Images are referenced as Label Studio local files relative to the release
folder; ``vlforge review push`` (``review_loop.py``) rewrites them relative to the
server's document root and creates the storage that lets Label Studio serve them.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from vlforge.ingest.label_studio import REVIEW_ITEM_KEY
from vlforge.label_studio_tasks import label_config, sample_results
from vlforge.layout import LABEL_CONFIG_NAME, REVIEW_TASKS_NAME
from vlforge.quality.agreement import ReviewItem
from vlforge.store import atomic_open, atomic_write_text

LOCAL_FILES_PREFIX = "/data/local-files/?d="


def local_file_url(path: str) -> str:
    """Label Studio's URL for a file at ``path`` (POSIX, relative to its local-files document root)."""
    return LOCAL_FILES_PREFIX + urllib.parse.quote(path, safe="/")


def local_file_path(url: str) -> str:
    """The path inside the document root that a ``local_file_url`` names.

    Raises:
        ValueError: when ``url`` is not a Label Studio local-files URL.
    """
    if not url.startswith(LOCAL_FILES_PREFIX):
        raise ValueError(f"{url!r} is not a Label Studio local-files URL ({LOCAL_FILES_PREFIX}<path>)")
    return urllib.parse.unquote(url[len(LOCAL_FILES_PREFIX) :])


def review_task(item: ReviewItem) -> dict[str, Any]:
    first = item.rounds[0]
    image = first.images[0]
    predictions = [
        {
            "model_version": f"round {sample.round} ({sample.annotator or 'unknown annotator'})",
            "result": sample_results(sample, f"r{sample.round}_"),
        }
        for sample in item.rounds
    ]
    below = {name: {"value": round(value, 4), "threshold": threshold} for name, (value, threshold) in item.below.items()}
    return {
        "data": {
            "image": local_file_url(f"images/{image.file_name}"),
            REVIEW_ITEM_KEY: item.item_id,
            "task_type": first.task_type,
            "source": f"{first.source.file} {first.source.record_id}",
        },
        "predictions": predictions,
        "meta": {"below_threshold": below},
    }


class ReviewWriter:
    """Writes ``review_tasks.json`` (Label Studio import) task by task, then ``label_config.xml``, into a folder.

    The tasks file holds the bytes ``json.dumps(tasks, indent=2, ensure_ascii=False)`` gives for every task added, but only
    one task is in memory at a time. Use it as a context manager: both files are written atomically when the block ends
    without an error; when it raises, neither is changed.

    Args:
        folder: the review folder (``RunDir.review``).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written = 0
        self._labels: set[str] = set()
        self._files = ExitStack()
        self._tasks: BinaryIO | None = None

    def __enter__(self) -> Self:
        self._tasks = self._files.enter_context(atomic_open(self.folder / REVIEW_TASKS_NAME))
        self._tasks.write(b"[")
        return self

    def add(self, items: Iterable[ReviewItem]) -> None:
        """Append a review task for each item."""
        if self._tasks is None:
            raise RuntimeError(f"review tasks for {self.folder} are written inside a `with ReviewWriter(...)` block")
        for item in items:
            # An element of an indented JSON list is the element on its own, each line indented one level more.
            task = json.dumps(review_task(item), indent=2, ensure_ascii=False).replace("\n", "\n  ")
            self._tasks.write(f"{',' if self.written else ''}\n  {task}".encode())
            self.written += 1
            self._labels.update(box.label for sample in item.rounds for box in sample.boxes)

    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if error is None and self._tasks is not None:
            self._tasks.write(b"\n]" if self.written else b"]")
        self._files.__exit__(error_type, error, trace)  # the tasks file is renamed into place, or removed on an error
        if error is None:
            atomic_write_text(self.folder / LABEL_CONFIG_NAME, label_config(sorted(self._labels)))


def write_review(items: list[ReviewItem], folder: Path) -> int:
    """Write ``review_tasks.json`` (Label Studio import) and ``label_config.xml`` into ``folder``.

    Returns:
        The number of review tasks written.
    """
    with ReviewWriter(folder) as writer:
        writer.add(items)
    return writer.written
