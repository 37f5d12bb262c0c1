"""The Qwen-VL finetune JSON (``qwen-vl-finetune``): ``image`` / ``video`` (one path or a list) and ``conversations`` with ``from``/``value``.

Image and video paths are relative to the dataset's ``data_path``: pass it as ``images_root``.
"""

from __future__ import annotations

from collections.abc import Iterator

from vlforge.config import Recipe
from vlforge.ingest.base import IngestContext, Rejection
from vlforge.ingest.conversations import read_conversations
from vlforge.records import Sample


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    return read_conversations(location, context, "conversations", "from", "value", "image", "video")
