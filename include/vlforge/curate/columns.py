"""Columns of strings and of sha256 digests: one buffer and an offset a row, where a list of ``str`` costs 57 bytes more a value.

Curate keeps a few facts of every sample of a manifest at once (``vlforge.curate.summaries``,
``vlforge.curate.splits``), so these hold them in flat buffers, and sort and compare them with numpy.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np

DIGEST_BYTES = 32


class ByteRows:
    """Rows of bytes in one buffer with an offset each: what ``TextColumn`` and ``DigestColumn`` store."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("Q", [0])

    def _append(self, row: bytes | bytearray) -> None:
        self._data += row
        self._offsets.append(len(self._data))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def row(self, position: int) -> bytes:
        """The row's bytes: equal rows have equal bytes."""
        return bytes(self._data[self._offsets[position] : self._offsets[position + 1]])

    def take(self, positions: Iterable[int]) -> Self:
        """A new column of the rows at ``positions``, in that order."""
        taken = type(self)()
        for position in positions:
            taken._append(self._data[self._offsets[position] : self._offsets[position + 1]])
        return taken


class TextColumn(ByteRows):
    """Strings, one a row, in one UTF-8 buffer with an offset each."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        for value in values:
            self.append(value)

    def append(self, text: str) -> None:
        self._append(text.encode("utf-8"))

    def __getitem__(self, position: int) -> str:
        return self.row(position).decode("utf-8")

    def keys(self) -> np.ndarray:
        """The rows as a numpy array that sorts and compares as the strings do (UTF-8 keeps code point order)."""
        widths = np.diff(np.asarray(self._offsets, dtype=np.uint64))
        if len(self) and widths[0] > 0 and np.all(widths == widths[0]):  # ids of one length: read in place
            return np.frombuffer(self._data, dtype=f"S{int(widths[0])}")
        return np.array([self.row(position) for position in range(len(self))], dtype=object)

    def repeated(self) -> list[int]:
        """The positions whose string occurs at an earlier position too, ascending."""
        if len(self) < 2:
            return []
        values = self.keys()
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        return sorted(order[1:][ordered[1:] == ordered[:-1]].tolist())


class DigestColumn(ByteRows):
    """A list of sha256 hex digests per row, stored as 32 bytes a digest and one offset a row."""

    def append(self, digests: Sequence[str]) -> None:
        self._append(b"".join(bytes.fromhex(digest) for digest in digests))

    def __getitem__(self, position: int) -> tuple[str, ...]:
        row = self.row(position)
        return tuple(row[start : start + DIGEST_BYTES].hex() for start in range(0, len(row), DIGEST_BYTES))

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Every digest of every row (``S32``, comparing as the hex digests do) and the row it is in (``int64``)."""
        counts = np.diff(np.asarray(self._offsets, dtype=np.int64)) // DIGEST_BYTES
        return np.frombuffer(self._data, dtype=f"S{DIGEST_BYTES}"), np.repeat(np.arange(len(self), dtype=np.int64), counts)
