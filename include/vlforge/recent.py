"""A dict that keeps only the entries set last, for caches that must not grow with the dataset.

Ingest remembers the media it has stored and curate the pHashes it has computed, so that a picture that
many samples share is read and hashed once; over a manifest where every sample has its own picture, a
cache of every one would cost about a kilobyte a sample and never be hit.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class Recent(dict[Key, Value]):
    """A dict of at most ``capacity`` entries: setting a new key when it is full removes the one set first."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: Key, value: Value) -> None:
        if key not in self and len(self) >= self.capacity:
            del self[next(iter(self))]
        super().__setitem__(key, value)
