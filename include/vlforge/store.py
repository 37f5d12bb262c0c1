"""Atomic file writes and the content-addressed image store.

Images and videos are stored once, under their sha256, however many samples or
sources refer to them (the store keeps any bytes by hash and extension); shards on several workers can share one store because every
write goes to a temporary file first and is renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, piece by piece: readers see the old file or the whole new one, never half.

    The file is written beside ``path`` under a temporary name and renamed into place when the block ends;
    when the block raises, it is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
        # mkstemp makes the file private (0600); releases and the store are read by trainers and other workers.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_open(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    """Files named ``<sha256>.<ext>`` in two-character fan-out folders under ``root``.

    Videos live here beside the images (``<sha256>.mp4``); nothing in the store depends on the media kind.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str, extension: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{extension}"

    def put(self, data: bytes, extension: str, sha256: str | None = None) -> str:
        """Store ``data`` unless an identical file is already there.

        Args:
            data: the file's bytes.
            extension: its extension in the store (``jpg``, ``png``, ``mp4``).
            sha256: the sha256 of ``data`` when the caller has just computed it (an augmented copy's
                ``ImageRef``): hashing a 150 KB JPEG costs about a fifth of encoding it, and the augment
                stage would otherwise hash every copy twice.

        Returns:
            The sha256 of ``data``.
        """
        digest = sha256_bytes(data) if sha256 is None else sha256
        target = self.path_for(digest, extension)
        if not target.exists():
            atomic_write_bytes(target, data)
        return digest

    def contains(self, sha256: str, extension: str) -> bool:
        return self.path_for(sha256, extension).is_file()

    def link_into(self, sha256: str, extension: str, folder: Path) -> Path:
        """Hard-link a stored file (image or video) into ``folder`` (copy across file systems) and return its path."""
        source = self.path_for(sha256, extension)
        target = folder / f"{sha256}.{extension}"
        if target.exists():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            atomic_write_bytes(target, source.read_bytes())
        return target
