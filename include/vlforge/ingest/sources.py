"""Reading source files from local paths or fsspec URIs, record by record.

A JSON file is parsed whole: one that does not parse, is not UTF-8, or is larger than
``ingest.max_document_bytes`` becomes one rejection for the whole file. A JSON Lines file is
streamed: each bad line is its own rejection (malformed, not UTF-8, or longer than
``ingest.max_record_bytes``, which is read past in blocks and never held whole) and the other
lines are read. A UTF-8 byte-order mark at the start of a file is the encoding's mark, not content,
and is skipped. A byte that is not UTF-8 is never guessed at: the reason names its byte offset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import fsspec

from vlforge.ingest.base import IngestContext, RecordError, Rejection

UTF8_BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 1 << 20


def decode_utf8(data: bytes, field_name: str, offset: int = 0) -> str:
    """``data`` as text: UTF-8, a leading byte-order mark skipped.

    Args:
        data: the bytes.
        field_name: what the bytes are, as the rejection names it.
        offset: where ``data`` starts in its file, so that the reason gives the file's byte offset.

    Raises:
        RecordError: naming the first byte that is not UTF-8, its offset in the file and the bytes around it.
    """
    skipped = len(UTF8_BOM) if offset == 0 and data.startswith(UTF8_BOM) else 0
    try:
        return data[skipped:].decode("utf-8")
    except UnicodeDecodeError as error:
        start = skipped + error.start
        around = data[max(0, start - 40) : start + 40].decode("utf-8", "backslashreplace")
        raise RecordError(
            f"not UTF-8: byte 0x{data[start]:02x} at byte offset {offset + start} ({error.reason}); "
            "re-save the file as UTF-8",
            field_name,
            around,
        ) from None


def parse_json(text: str, field_name: str, value: str, multiline: bool) -> Any:
    """Parse one JSON value (a whole file, or one JSON Lines line).

    Args:
        text: the JSON text.
        field_name, value: what a rejection names (the file and its name, or the line and its text).
        multiline: whether to give the line of an error as well as its column (a whole file).

    Raises:
        RecordError: for malformed JSON (where), an integer too long to convert, or nesting too deep.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}" if multiline else f"column {error.colno}"
        raise RecordError(f"malformed JSON: {error.msg} at {where}", field_name, value) from None
    except ValueError as error:  # an integer longer than Python's int_max_str_digits, for one
        raise RecordError(f"malformed JSON: {error}", field_name, value) from None
    except RecursionError:
        raise RecordError("malformed JSON: nested too deeply to parse", field_name, value) from None


def read_document(location: str, context: IngestContext) -> Any | Rejection:
    """The JSON document at ``location``, parsed whole, or one rejection for the whole file.

    Returns:
        The parsed value, or a rejection (record ``file``) when the file is larger than
        ``context.max_document_bytes`` (it is then not read), is not UTF-8 or does not parse.
    """
    filesystem, path = fsspec.core.url_to_fs(location)
    size = filesystem.size(path)
    if size is not None and size > context.max_document_bytes:
        reason = (
            f"JSON file is {size} bytes, over the ingest.max_document_bytes limit of {context.max_document_bytes}; "
            "a JSON file is parsed whole, so it was not read (split it, or write it as JSON Lines)"
        )
        return Rejection(context.source("file"), reason, "file", context.source_file)
    try:
        return parse_json(decode_utf8(filesystem.cat_file(path), "file"), "file", context.source_file, multiline=True)
    except RecordError as error:
        return Rejection(context.source("file"), error.reason, error.field, error.value)


def load_json_records(location: str, context: IngestContext) -> Iterator[tuple[str, Any | Rejection]]:
    """Yield ``(record_id, record)`` for a JSON array, a single JSON object, or JSON Lines (``.jsonl``).

    The record id is the record's position (0-based) in a JSON file, ``line N`` (1-based) in JSON Lines.
    """
    if location.endswith(".jsonl"):
        with fsspec.open(location, "rb") as handle:
            yield from _json_lines(handle, context)
        return
    document = read_document(location, context)
    if isinstance(document, Rejection):
        yield "file", document
        return
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        yield str(index), record


def _json_lines(handle: IO[bytes], context: IngestContext) -> Iterator[tuple[str, Any | Rejection]]:
    limit = context.max_record_bytes
    for line in bounded_lines(handle, limit):
        record_id = f"line {line.number}"
        if line.data is None:
            reason = f"line is {line.size} bytes, over the ingest.max_record_bytes limit of {limit}; it was skipped unread"
            where = f"{line.size} bytes at byte offset {line.offset}"
            yield record_id, Rejection(context.source(record_id), reason, "line", where)
            continue
        if not line.data.strip():
            continue
        try:
            text = decode_utf8(line.data, "line", line.offset)
            yield record_id, parse_json(text, "line", text[:200], multiline=False)
        except RecordError as error:
            yield record_id, Rejection(context.source(record_id), error.reason, error.field, error.value)


@dataclass(frozen=True)
class Line:
    """One line of a file: its 1-based number, the byte offset it starts at, its size, and its bytes unless too long.

    ``data`` is None for a line longer than the limit it was read with; ``size`` counts its bytes without the line end.
    """

    number: int
    offset: int
    size: int
    data: bytes | None


def bounded_lines(handle: IO[bytes], limit: int) -> Iterator[Line]:
    """The lines of a binary file, read in blocks; a line longer than ``limit`` bytes is counted, never kept.

    So a file with one 200 MB line costs at most ``limit`` bytes and a block, not 200 MB. ``\\n`` ends a line
    (a ``\\r`` before it is dropped); a last line without one is still a line.
    """
    number, offset, position = 1, 0, 0
    kept: bytearray | None = bytearray()
    size = 0
    while block := handle.read(BLOCK_BYTES):
        start = 0
        while True:
            end = block.find(b"\n", start)
            piece = block[start:] if end < 0 else block[start:end]
            size += len(piece)
            if kept is not None and size <= limit:
                kept += piece
            else:
                kept = None
            if end < 0:
                break
            yield _line(number, offset, size, kept)
            number, offset, size, kept, start = number + 1, position + end + 1, 0, bytearray(), end + 1
        position += len(block)
    if size:
        yield _line(number, offset, size, kept)


def _line(number: int, offset: int, size: int, kept: bytearray | None) -> Line:
    if kept is None:
        return Line(number, offset, size, None)
    data = bytes(kept).removesuffix(b"\r")
    return Line(number, offset, len(data), data)
