"""LLaMA-Factory sharegpt files (``messages`` with ``role``/``content``, ``images``, ``videos``), JSON or JSON Lines.

As in LLaMA-Factory's ``mllm_video_demo.json``, ``videos`` lists video paths and each one has a
``<video>`` tag in the messages; a record whose tags and videos differ in number is quarantined.
Image and video paths are relative to the dataset folder (LLaMA-Factory's ``media_dir``),
which is the file's folder unless ``images_root`` says otherwise.

A record may instead be in LLaMA-Factory's "v1" form (``data/v1_multimodal_demo.jsonl``): each
message's ``content`` is a list of typed parts, ``{"type": "text", "value": ...}`` and
``{"type": "image_url", "value": <path or URL>}`` (and ``video_url`` for a video). It is recognised
record by record; text parts become the turn text, each media part an ``<image>``/``<video>`` tag at
its place and the next of the sample's images/videos. Any other part type (``reasoning``,
``tool_call``) quarantines the record. LLaMA-Factory's v1 demo names images relative to the
LLaMA-Factory checkout (``data/mllm_demo_data/1.jpg``), the folder above ``data/``: pass that
folder as ``images_root``.
"""

from __future__ import annotations

from collections.abc import Iterator

from vlforge.config import Recipe
from vlforge.ingest.base import IngestContext, Rejection
from vlforge.ingest.conversations import read_conversations
from vlforge.records import Sample


def read(location: str, context: IngestContext, recipe: Recipe) -> Iterator[Sample | Rejection]:
    return read_conversations(location, context, "messages", "role", "content", "images", "videos", typed_parts=True)
