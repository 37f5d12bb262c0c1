"""Trainer-format conversation files read back as samples: LLaMA-Factory sharegpt and the Qwen-VL finetune JSON.

Both keep a list of turns with ``<image>``/``<video>`` tags and lists of image and video paths;
they differ in key names, which each adapter passes in. The ingest checks (``checked_sample``)
then require one ``<image>`` tag per image and one ``<video>`` tag per video.

Every record becomes a ``vqa`` sample, with or without videos: a conversation record is a
question-and-answer exchange whatever its media, and vlforge's ``video_event`` task type is for
samples that carry timed ``VideoEvent`` annotations, which these formats do not have. A caption
cannot be told from an answer in these files, so no record is guessed to be a ``caption``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vlforge.ingest.base import IngestContext, Rejection, RecordError
from vlforge.ingest.sources import load_json_records
from vlforge.records import Sample, Turn, make_sample_id

ROLE_NAMES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}


def read_conversations(
    location: str,
    context: IngestContext,
    turns_key: str,
    role_key: str,
    content_key: str,
    images_key: str,
    videos_key: str,
) -> Iterator[Sample | Rejection]:
    """Yield one VQA sample per record of a conversation file.

    Args:
        location: the file.
        context: where media are resolved and stored.
        turns_key, role_key, content_key: the format's names for the turn list, a turn's role and its text.
        images_key, videos_key: the format's names for the image and video paths (a list, or one path).

    Returns:
        Samples, and rejections naming the record, the field and the value.
    """
    for record_id, record in load_json_records(location, context):
        if isinstance(record, Rejection):
            yield record
            continue
        source = context.source(record.get("id", record_id) if isinstance(record, dict) else record_id)
        try:
            if not isinstance(record, dict):
                raise RecordError("record is not a JSON object", "record", record)
            turns = _turns(record, turns_key, role_key, content_key)
            images = tuple(
                context.load_image(str(path), f"{images_key}[{index}]")
                for index, path in enumerate(_paths(record, images_key))
            )
            videos = tuple(
                context.load_video(str(path), f"{videos_key}[{index}]")
                for index, path in enumerate(_paths(record, videos_key))
            )
            yield Sample(
                sample_id=make_sample_id(source, 1),
                task_type="vqa",
                images=images,
                videos=videos,
                conversations=turns,
                source=source,
            )
        except RecordError as error:
            yield Rejection(source, error.reason, error.field, error.value)


def _paths(record: dict[str, Any], key: str) -> list[object]:
    paths = record.get(key) or []
    paths = [paths] if isinstance(paths, str) else paths
    if not isinstance(paths, list):
        raise RecordError(f"'{key}' is not a list of paths", key, paths)
    return paths


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
