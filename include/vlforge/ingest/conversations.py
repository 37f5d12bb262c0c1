"""Trainer-format conversation files read back as samples: LLaMA-Factory sharegpt and the Qwen-VL finetune JSON.

Both keep a list of turns with ``<image>``/``<video>`` tags and lists of image and video paths;
they differ in key names, which each adapter passes in. The ingest checks (``checked_sample``)
then require one ``<image>`` tag per image and one ``<video>`` tag per video.

Every record becomes a ``vqa`` sample, with or without videos: a conversation record is a
question-and-answer exchange whatever its media, and vlforge's ``video_event`` task type is for
samples that carry timed ``VideoEvent`` annotations, which these formats do not have. A caption
cannot be told from an answer in these files, so no record is guessed to be a ``caption``.

A format that passes ``typed_parts=True`` (LLaMA-Factory) also reads records in LLaMA-Factory's
"v1" form, recognised per record by a turn whose content is a list of typed parts
(``{"type": "text" | "image_url" | "video_url", "value": ...}``) instead of a string; see ``_part_turns``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vlforge.ingest.base import IngestContext, RecordError, Rejection
from vlforge.ingest.sources import load_json_records
from vlforge.records import ImageRef, Sample, Turn, VideoRef, make_sample_id

ROLE_NAMES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}


def read_conversations(
    location: str,
    context: IngestContext,
    turns_key: str,
    role_key: str,
    content_key: str,
    images_key: str,
    videos_key: str,
    typed_parts: bool = False,
) -> Iterator[Sample | Rejection]:
    """Yield one VQA sample per record of a conversation file.

    Args:
        location: the file.
        context: where media are resolved and stored.
        turns_key, role_key, content_key: the format's names for the turn list, a turn's role and its text.
        images_key, videos_key: the format's names for the image and video paths (a list, or one path).
        typed_parts: also read records whose turn contents are lists of typed parts (``_part_turns``).

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
            if typed_parts and _has_typed_parts(record, turns_key, content_key):
                turns, images, videos = _part_turns(record, context, turns_key, role_key, content_key, images_key, videos_key)
            else:
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


def _turn_list(record: dict[str, Any], turns_key: str) -> list[Any]:
    raw = record.get(turns_key)
    if not isinstance(raw, list) or not raw:
        raise RecordError(f"record has no '{turns_key}' list", turns_key, raw)
    return raw


def _system_turns(record: dict[str, Any]) -> list[Turn]:
    return [Turn(role="system", content=str(record["system"]))] if record.get("system") else []


def _turns(record: dict[str, Any], turns_key: str, role_key: str, content_key: str) -> tuple[Turn, ...]:
    turns = _system_turns(record)
    for index, turn in enumerate(_turn_list(record, turns_key)):
        role = ROLE_NAMES.get(str(turn.get(role_key))) if isinstance(turn, dict) else None
        if role is None or not isinstance(turn.get(content_key), str):
            raise RecordError(f"turn has no known '{role_key}' or no text '{content_key}'", f"{turns_key}[{index}]", turn)
        turns.append(Turn(role=role, content=turn[content_key]))
    return tuple(turns)


def _has_typed_parts(record: dict[str, Any], turns_key: str, content_key: str) -> bool:
    """Whether a record is in the typed-parts form: some turn's content is a list."""
    raw = record.get(turns_key)
    return isinstance(raw, list) and any(isinstance(turn, dict) and isinstance(turn.get(content_key), list) for turn in raw)


def _part_turns(
    record: dict[str, Any],
    context: IngestContext,
    turns_key: str,
    role_key: str,
    content_key: str,
    images_key: str,
    videos_key: str,
) -> tuple[tuple[Turn, ...], tuple[ImageRef, ...], tuple[VideoRef, ...]]:
    """The turns, images and videos of a record whose turn contents are lists of typed parts.

    This is LLaMA-Factory's "v1" messages form (``v1/utils/types.py``: ``Content`` is
    ``{"type", "value"}``). A turn's text is its parts joined in order with nothing between them:
    a ``text`` part gives its value, an ``image_url`` part gives ``<image>`` and appends its value
    (a reference resolved like any image path) to the sample's images, and a ``video_url`` part
    gives ``<video>`` and appends a video the same way. So ``[image_url, text "Who are they?"]``
    reads as ``<image>Who are they?``, as the same turn does in the sharegpt ``mllm_demo.json``.

    Args:
        record: the record, known to have a turn whose content is a list.
        context: where media are resolved and stored.
        turns_key, role_key, content_key, images_key, videos_key: as ``read_conversations``.

    Returns:
        The turns (a ``system`` key first, as in the sharegpt form), the images and the videos in
        the order their parts appear.

    Raises:
        RecordError: for a turn whose content is not a non-empty list of parts, a part that is not an
            object, a part type other than ``text``, ``image_url`` and ``video_url`` (LLaMA-Factory's
            ``reasoning`` and ``tool_call`` included), a part value that is not a string, a text part
            that holds a literal ``<image>``/``<video>`` tag, or a record that also lists
            ``images``/``videos`` (a v1 record names its media in its parts only).
    """
    for key in (images_key, videos_key):
        if record.get(key):
            reason = f"record has typed content parts and an '{key}' list; its media must be named in its parts only"
            raise RecordError(reason, key, record[key])
    turns = _system_turns(record)
    images: list[ImageRef] = []
    videos: list[VideoRef] = []
    for index, turn in enumerate(_turn_list(record, turns_key)):
        where = f"{turns_key}[{index}]"
        role = ROLE_NAMES.get(str(turn.get(role_key))) if isinstance(turn, dict) else None
        if role is None:
            raise RecordError(f"turn has no known '{role_key}'", where, turn)
        parts = turn.get(content_key)
        if not isinstance(parts, list) or not parts:
            raise RecordError(f"turn '{content_key}' is not a non-empty list of typed parts", f"{where}.{content_key}", parts)
        pieces = []
        for number, part in enumerate(parts):
            field = f"{where}.{content_key}[{number}]"
            if not isinstance(part, dict):
                raise RecordError("content part is not an object with 'type' and 'value'", field, part)
            kind = part.get("type")
            value = part.get("value")
            if not isinstance(kind, str):
                raise RecordError("content part has no string 'type'", field, part)
            if kind not in _PART_TYPES:
                raise RecordError(
                    f"content part type {kind!r} is not supported (known: {', '.join(_PART_TYPES)})", f"{field}.type", kind
                )
            if not isinstance(value, str):
                raise RecordError(f"{kind} part has no string 'value'", f"{field}.value", part)
            if kind == "text":
                tag = next((tag for tag in ("<image>", "<video>") if tag in value), None)
                if tag is not None:
                    reason = f"text part holds a literal {tag} tag; media go in image_url/video_url parts"
                    raise RecordError(reason, f"{field}.value", value)
                pieces.append(value)
            elif kind == "image_url":
                images.append(context.load_image(value, f"{field}.value"))
                pieces.append("<image>")
            else:
                videos.append(context.load_video(value, f"{field}.value"))
                pieces.append("<video>")
        turns.append(Turn(role=role, content="".join(pieces)))
    return tuple(turns), tuple(images), tuple(videos)


_PART_TYPES = ("text", "image_url", "video_url")
