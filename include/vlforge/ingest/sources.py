"""Reading source files from local paths or fsspec URIs, record by record.

A JSON file that does not parse becomes one rejection for the whole file; in a
JSON Lines file each bad line is its own rejection and the other lines are read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fsspec

from vlforge.ingest.base import IngestContext, Rejection


def read_text(location: str) -> str:
    with fsspec.open(location, "r", encoding="utf-8") as handle:
        return handle.read()


def load_json_records(location: str, context: IngestContext) -> Iterator[tuple[str, Any | Rejection]]:
    """Yield ``(record_id, record)`` for a JSON array, a single JSON object, or JSON Lines.

    The record id is the record's position (0-based) in the file.
    """
    text = read_text(location)
    if location.endswith(".jsonl"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            record_id = f"line {number}"
            try:
                yield record_id, json.loads(line)
            except json.JSONDecodeError as error:
                yield record_id, Rejection(context.source(record_id), f"malformed JSON: {error.msg} at column {error.colno}", "line", line[:200])
        return
    document = parse_json_document(text, location, context)
    if isinstance(document, Rejection):
        yield "file", document
        return
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        yield str(index), record


def parse_json_document(text: str, location: str, context: IngestContext) -> Any | Rejection:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        return Rejection(context.source("file"), reason, "file", context.source_file)
