"""Reading source files from local paths or fsspec URIs, record by record.

A JSON file is read whole or not at all: one that does not parse, is not UTF-8, or is larger than
``ingest.max_document_bytes`` becomes one rejection for the whole file. A JSON array (the usual
export) is streamed twice, element by element, so memory holds one record at a time: the first pass
checks the whole file (its reason is the one parsing it whole would give: the message, line and
column of ``json.loads``), the second yields the records. A JSON Lines file is
streamed: each bad line is its own rejection (malformed, not UTF-8, or longer than
``ingest.max_record_bytes``, which is read past in blocks and never held whole) and the other
lines are read. A UTF-8 byte-order mark at the start of a file is the encoding's mark, not content,
and is skipped. A byte that is not UTF-8 is never guessed at: the reason names its byte offset.
"""

from __future__ import annotations

import codecs
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
    oversized = _oversized(location, context)
    if oversized is not None:
        return oversized
    try:
        filesystem, path = fsspec.core.url_to_fs(location)
        return parse_json(decode_utf8(filesystem.cat_file(path), "file"), "file", context.source_file, multiline=True)
    except RecordError as error:
        return Rejection(context.source("file"), error.reason, error.field, error.value)


def _oversized(location: str, context: IngestContext) -> Rejection | None:
    filesystem, path = fsspec.core.url_to_fs(location)
    size = filesystem.size(path)
    if size is not None and size > context.max_document_bytes:
        reason = (
            f"JSON file is {size} bytes, over the ingest.max_document_bytes limit of {context.max_document_bytes}; "
            "a JSON file is parsed whole, so it was not read (split it, or write it as JSON Lines)"
        )
        return Rejection(context.source("file"), reason, "file", context.source_file)
    return None


def load_json_records(location: str, context: IngestContext) -> Iterator[tuple[str, Any | Rejection]]:
    """Yield ``(record_id, record)`` for a JSON array, a single JSON object, or JSON Lines (``.jsonl``).

    The record id is the record's position (0-based) in a JSON file, ``line N`` (1-based) in JSON Lines.
    """
    if location.endswith(".jsonl"):
        with fsspec.open(location, "rb") as handle:
            yield from _json_lines(handle, context)
        return
    oversized = _oversized(location, context)
    if oversized is not None:
        yield "file", oversized
        return
    if _is_array(location):
        try:
            for _ in _array_elements(location, context.source_file):  # the whole file checked first: a bad file releases nothing
                pass
        except RecordError as error:
            yield "file", Rejection(context.source("file"), error.reason, error.field, error.value)
            return
        for index, record in enumerate(_array_elements(location, context.source_file)):
            yield str(index), record
        return
    document = read_document(location, context)
    if isinstance(document, Rejection):
        yield "file", document
        return
    yield "0", document


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


_WHITESPACE = " \t\n\r"  # JSON's, as the json module skips it
_DECODER = json.JSONDecoder()


def _is_array(location: str) -> bool:
    """Whether the JSON file at ``location`` starts (after a byte-order mark and whitespace) with ``[``."""
    with fsspec.open(location, "rb") as handle:
        head = handle.read(len(UTF8_BOM)).removeprefix(UTF8_BOM)
        while not (head := head.lstrip(_WHITESPACE.encode())) and (head := handle.read(BLOCK_BYTES)):
            pass
    return head.startswith(b"[")


class _JsonText:
    """A JSON file's text, decoded from UTF-8 block by block; positions are counted in the whole file's characters.

    ``text[pos:]`` is what is left to read; the text before it is dropped as reading goes on, its lines counted,
    so that an error names the line and column that parsing the whole file would.
    """

    def __init__(self, handle: Any, name: str) -> None:
        self.handle, self.name = handle, name
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text, self.pos = "", 0
        self.offset = 0  # bytes read so far
        self.eof = False
        self.dropped = 0  # characters dropped before text[0]
        self.lines_dropped = 0
        self.last_newline = -1  # the whole file's index of the last newline dropped

    def more(self) -> bool:
        """Read and decode one more block; False at the end of the file."""
        if self.eof:
            return False
        block = self.handle.read(BLOCK_BYTES)
        self.eof = not block
        if self.offset == 0 and block.startswith(UTF8_BOM):
            block, self.offset = block[len(UTF8_BOM) :], len(UTF8_BOM)
        pending = self.decoder.getstate()[0]
        try:
            self.text += self.decoder.decode(block, final=self.eof)
        except UnicodeDecodeError:
            decode_utf8(pending + block, "file", self.offset - len(pending))  # raises naming the byte and its offset
            raise
        self.offset += len(block)
        return True

    def skip_whitespace(self) -> str:
        """The next character after whitespace ('' at the end of the file), not consumed."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def value(self) -> Any:
        """Decode the JSON value at the current position (whitespace already skipped) and move past it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                if self.more():  # the value may go on in the next block
                    continue
                raise self.error(error.msg, error.pos) from None
            except ValueError as error:  # an integer longer than Python's int_max_str_digits, for one
                raise RecordError(f"malformed JSON: {error}", "file", self.name) from None
            except RecursionError:
                raise RecordError("malformed JSON: nested too deeply to parse", "file", self.name) from None
            if end == len(self.text) and self.more():  # a number cut by the block's end: decode it whole
                continue
            self.pos = end
            self.drop_read()
            return value

    def drop_read(self) -> None:
        if self.pos < BLOCK_BYTES:
            return
        read = self.text[: self.pos]
        newlines = read.count("\n")
        if newlines:
            self.lines_dropped += newlines
            self.last_newline = self.dropped + read.rfind("\n")
        self.dropped += self.pos
        self.text, self.pos = self.text[self.pos :], 0

    def error(self, message: str, pos: int) -> RecordError:
        """The error ``json.loads`` of the whole file gives at ``pos`` of the current text: its message, line and column."""
        newline = self.text.rfind("\n", 0, pos)
        line = self.lines_dropped + self.text.count("\n", 0, pos) + 1
        column = (pos - newline) if newline >= 0 else (self.dropped + pos - self.last_newline)
        return RecordError(f"malformed JSON: {message} at line {line} column {column}", "file", self.name)


def _array_elements(location: str, name: str) -> Iterator[Any]:
    """The elements of the JSON array in the file at ``location`` (named ``name`` in errors), one at a time (``_is_array`` holds).

    Raises:
        RecordError: where the file is not UTF-8 or not one well-formed JSON array, as ``json.loads`` says it.
    """
    with fsspec.open(location, "rb") as handle:
        text = _JsonText(handle, name)
        text.skip_whitespace()
        text.pos += 1  # the "["
        if text.skip_whitespace() == "]":
            text.pos += 1
        else:
            while True:
                yield text.value()
                following = text.skip_whitespace()
                if following == "]":
                    text.pos += 1
                    break
                if following != ",":
                    raise text.error("Expecting ',' delimiter", text.pos)
                text.pos += 1
                text.skip_whitespace()
        if text.skip_whitespace():
            raise text.error("Extra data", text.pos)
