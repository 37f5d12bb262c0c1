"""Curate fixtures: real fixture photos put into a tmp ImageStore the way ingest does (``store_image``).

The store is the one of ``VLFORGE_HOME`` = ``tmp_path``, so a run prepared in ``tmp_path`` finds its images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vlforge.layout import store_root
from vlforge.media import store_image
from vlforge.records import ImageRef
from vlforge.store import ImageStore


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    """The image store of runs prepared in ``tmp_path`` (``RunDescription.store``)."""
    return ImageStore(store_root(tmp_path))


@pytest.fixture
def put(store: ImageStore, fixtures_dir: Path) -> Callable[[Path | bytes], ImageRef]:
    """Store a fixture file (path relative to the shared fixtures) or raw bytes, as ingest's ``store_image`` does."""

    def _put(what: Path | bytes) -> ImageRef:
        if isinstance(what, bytes):
            return store_image(what, store, "<bytes>")
        return store_image((fixtures_dir / what).read_bytes(), store, str(what))

    return _put
