"""JSON files written a record at a time, byte for byte as ``json.dumps(..., ensure_ascii=False, indent=2)`` writes them whole.

The JSON exports (LLaMA-Factory, the Qwen finetune files, COCO) are one document per split; building the
document first would hold every record of a split in memory. ``write_json_array`` and ``write_json_object``
write the same bytes from an iterable instead. A record whose shape depends on the whole file (LLaMA-Factory
registers a media key when any record has it) goes to a ``JsonSpool`` first, a temporary file of compact JSON
lines read back once the file's shape is known.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from vlforge.store import atomic_open

INDENT = 2


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=INDENT)


def array_chunks(items: Iterable[object], level: int = 0) -> Iterator[str]:
    """The text of a JSON array of ``items`` nested ``level`` deep, one item at a time.

    Each item is dumped on its own and its lines indented one level deeper than the array: a JSON string
    never holds a raw line break, so the item's lines are exactly those of the whole document.
    """
    pad = " " * INDENT * (level + 1)
    empty = True
    for item in items:
        yield ("[\n" if empty else ",\n") + pad + _dumps(item).replace("\n", "\n" + pad)
        empty = False
    yield "[]" if empty else "\n" + " " * INDENT * level + "]"


def write_json_array(path: Path, items: Iterable[object]) -> int:
    """Write ``items`` to ``path`` as ``json.dumps(list(items), ensure_ascii=False, indent=2)`` would, atomically.

    Returns:
        The number of items written.
    """
    counted = _Counted(items)
    _write_chunks(path, array_chunks(counted))
    return counted.count


def write_json_object(path: Path, fields: dict[str, object], last: str, items: Iterable[object]) -> int:
    """Write ``fields`` and then the array ``last`` of ``items`` as one JSON object, as ``json.dumps`` with indent 2 would.

    Returns:
        The number of items in the array.
    """
    head = _dumps({**fields, last: []})
    closing = "[]\n}"  # how the empty placeholder array ends the dumped object
    counted = _Counted(items)
    _write_chunks(path, [head[: -len(closing)], *array_chunks(counted, level=1), "\n}"])
    return counted.count


def _write_chunks(path: Path, chunks: Iterable[str]) -> None:
    with atomic_open(path) as handle:
        for chunk in chunks:
            handle.write(chunk.encode("utf-8"))


class _Counted:
    """``items``, counting them as they are read."""

    def __init__(self, items: Iterable[object]) -> None:
        self.items, self.count = items, 0

    def __iter__(self) -> Iterator[object]:
        for item in self.items:
            self.count += 1
            yield item


class JsonSpool:
    """JSON values appended to a temporary file beside the export, read back in order; removed when closed.

    ``json.loads`` gives back the same keys in the same order and the same numbers (floats round-trip
    through their shortest repr), so a value read back dumps to the same text as the one appended.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder, prefix=".spool.")  # noqa: SIM115 (closed by close(), or on exit)

    def append(self, value: object) -> None:
        self._file.write(json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n")

    def __iter__(self) -> Iterator[Any]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
