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
from pathlib import Path
from typing import Any

from vlforge.ingest.label_studio import REVIEW_ITEM_KEY
from vlforge.label_studio_tasks import label_config, sample_results
from vlforge.layout import LABEL_CONFIG_NAME, REVIEW_TASKS_NAME
from vlforge.quality.agreement import ReviewItem
from vlforge.store import atomic_write_text

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


def write_review(items: list[ReviewItem], folder: Path) -> int:
    """Write ``review_tasks.json`` (Label Studio import) and ``label_config.xml`` into ``folder``.

    Returns:
        The number of review tasks written.
    """
    tasks = [review_task(item) for item in items]
    labels = [box.label for item in items for sample in item.rounds for box in sample.boxes]
    atomic_write_text(folder / REVIEW_TASKS_NAME, json.dumps(tasks, indent=2, ensure_ascii=False))
    atomic_write_text(folder / LABEL_CONFIG_NAME, label_config(labels))
    return len(tasks)
