"""Parquet that Hugging Face ``datasets`` loads with images and chat messages typed.

One file ``<dataset>.parquet``, one row per sample:

- ``sample_id``, ``task_type``: strings;
- ``images``: list of ``struct<bytes: binary, path: string>``, the image files embedded (the file is
  self-contained, as ``datasets``' own ``push_to_hub`` writes it) with their store file names;
- ``messages``: list of ``struct<role, content>``, the Qwen3-VL chat of ``qwen_finetune.chat_messages``
  (boxes relative 0-1000, GUI actions as ``mobile_use`` calls, system turn kept), ``<image>`` tags in place.

The schema carries ``datasets``' own metadata (``huggingface`` key: ``{"info": {"features": ...}}``),
so ``datasets.load_dataset("parquet", data_files=...)`` types ``images`` as a list of ``Image()``
(decoded to PIL images) rather than as plain dicts. ``datasets`` itself is not imported here.
Video samples are refused (``export_all`` skips them): ``datasets``' ``Video`` feature needs a video
decoder at load time, which a training-set file should not require.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import pyarrow as pa

from vlforge.config import Recipe
from vlforge.export.qwen_finetune import chat_messages
from vlforge.export.render import image_file, refuse_videos
from vlforge.manifest import write_tables
from vlforge.records import Sample

_STRING = {"dtype": "string", "_type": "Value"}
FEATURES = {
    "sample_id": _STRING,
    "task_type": _STRING,
    "images": {"feature": {"_type": "Image"}, "_type": "List"},
    "messages": {"feature": {"role": _STRING, "content": _STRING}, "_type": "List"},
}
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("task_type", pa.string()),
        ("images", pa.list_(IMAGE)),
        ("messages", pa.list_(MESSAGE)),
    ],
    metadata={"huggingface": json.dumps({"info": {"features": FEATURES}})},
)
# Rows per row group: each holds its images' bytes, so this bounds memory; ``datasets`` writes image sets by 100 too.
ROWS_PER_GROUP = 100


def table(samples: Iterable[Sample], folder: Path, recipe: Recipe) -> pa.Table:
    """The rows of ``samples``, images read from the release's ``images`` folder beside ``folder``'s parent."""
    rows = {name: [] for name in SCHEMA.names}  # type: dict[str, list[object]]
    for sample in samples:
        refuse_videos(sample, "the Parquet export")
        rows["sample_id"].append(sample.sample_id)
        rows["task_type"].append(sample.task_type)
        rows["messages"].append(chat_messages(sample, recipe))
        rows["images"].append(
            [{"bytes": image_file(folder, sample, image).read_bytes(), "path": image.file_name} for image in sample.images]
        )
    return pa.table(rows, schema=SCHEMA)


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """Write ``<dataset>.parquet``, ``ROWS_PER_GROUP`` samples (and their image bytes) in memory at a time."""
    path = folder / f"{dataset}.parquet"
    rows = iter(samples)
    groups = (table(group, folder, recipe) for group in iter(lambda: list(islice(rows, ROWS_PER_GROUP)), []))
    write_tables(groups, SCHEMA, path)
    return [path]
