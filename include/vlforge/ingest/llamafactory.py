"""LLaMA-Factory sharegpt files (``messages`` with ``role``/``content``, ``images``, ``videos``), JSON or JSON Lines.

As in LLaMA-Factory's ``mllm_video_demo.json``, ``videos`` lists video paths and each one has a
``<video>`` tag in the messages; a record whose tags and videos differ in number is quarantined.
Image and video paths are relative to the dataset folder (LLaMA-Factory's ``media_dir``),
which is the file's folder unless ``images_root`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

from vlforge.config import Recipe
from vlforge.ingest.base import IngestContext, Rejection
from vlforge.ingest.conversations import read_conversations
from vlforge.records import Sample


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    return read_conversations(location, context, "messages", "role", "content", "images", "videos")
