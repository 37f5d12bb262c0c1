"""Trainer-format conversation files read back as samples: LLaMA-Factory sharegpt and the Qwen-VL finetune JSON.

Both keep a list of turns with ``<image>`` tags and a list of image paths; they
differ in key names, which each adapter passes in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vlforge.ingest.base import IngestContext, Rejection, RecordError
from vlforge.ingest.sources import load_json_records
from vlforge.records import Sample, Turn, make_sample_id

ROLE_NAMES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}


def read_conversations(
    location: str, context: IngestContext, turns_key: str, role_key: str, content_key: str, images_key: str
) -> Iterator[Sample | Rejection]:
    """Yield one VQA sample per record of a conversation file."""
    for record_id, record in load_json_records(location, context):
        if isinstance(record, Rejection):
            yield record
            continue
        source = context.source(record.get("id", record_id) if isinstance(record, dict) else record_id)
        try:
            if not isinstance(record, dict):
                raise RecordError("record is not a JSON object", "record", record)
            if "video" in record or "videos" in record:
                raise RecordError("video records are not supported by this version", "videos", record.get("videos", record.get("video")))
            turns = _turns(record, turns_key, role_key, content_key)
            paths = record.get(images_key, [])
            paths = [paths] if isinstance(paths, str) else paths
            if not isinstance(paths, list):
                raise RecordError(f"'{images_key}' is not a list of paths", images_key, paths)
            images = tuple(context.load_image(str(path), f"{images_key}[{index}]") for index, path in enumerate(paths))
            yield Sample(sample_id=make_sample_id(source, 1), task_type="vqa", images=images, conversations=turns, source=source)
        except RecordError as error:
            yield Rejection(source, error.reason, error.field, error.value)


def _turns(record: dict[str, Any], turns_key: str, role_key: str, content_key: str) -> tuple[Turn, ...]:
    raw = record.get(turns_key)
    if not isinstance(raw, list) or not raw:
        raise RecordError(f"record has no '{turns_key}' list", turns_key, raw)
    turns = [Turn(role="system", content=str(record["system"]))] if record.get("system") else []
    for index, turn in enumerate(raw):
        role = ROLE_NAMES.get(str(turn.get(role_key))) if isinstance(turn, dict) else None
        if role is None or not isinstance(turn.get(content_key), str):
            raise RecordError(f"turn has no known '{role_key}' or no text '{content_key}'", f"{turns_key}[{index}]", turn)
        turns.append(Turn(role=role, content=turn[content_key]))
    return tuple(turns)
