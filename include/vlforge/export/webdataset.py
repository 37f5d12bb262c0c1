"""WebDataset tar shards for high-throughput loaders: ``<dataset>-000000.tar``, ``<dataset>-000001.tar``, ...

Each shard holds up to ``SAMPLES_PER_SHARD`` samples in sample order. A sample is the group of
files that share its key (the sample id; WebDataset splits a member name at its first dot):

- ``<key>.json``: ``{"sample_id", "task_type", "images", "messages"}``; ``messages`` is the
  Qwen3-VL chat of ``qwen_finetune.chat_messages`` and ``images`` names the image fields in order;
- ``<key>.<ext>`` for a sample's single image (``jpg``, ``png``, ... as stored), or
  ``<key>.<i>.<ext>`` for each image ``i`` of a multi-image sample; WebDataset's decoders pick the
  image decoder by the last extension.

Members are written in a fixed order with fixed metadata (mtime 0, mode 0644, no owner), so the
same samples give byte-identical shards. The ``webdataset`` package is not needed to write them.
Video samples are refused (``export_all`` skips them).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from vlforge.config import Recipe
from vlforge.export.qwen_finetune import chat_messages
from vlforge.export.render import ExportError, image_file, refuse_videos
from vlforge.records import Sample
from vlforge.store import atomic_open

SAMPLES_PER_SHARD = 1000
SHARD_PATTERN = "{dataset}-{index:06d}.tar"


def image_fields(sample: Sample) -> list[str]:
    """The field (extension) of each image: ``jpg`` for one image, ``0.jpg``, ``1.png``, ... for several."""
    if len(sample.images) == 1:
        return [sample.images[0].format]
    return [f"{index}.{image.format}" for index, image in enumerate(sample.images)]


def _member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _write_shard(path: Path, samples: Iterable[Sample], folder: Path, recipe: Recipe) -> None:
    with atomic_open(path) as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for sample in samples:
            fields = image_fields(sample)
            meta = {
                "sample_id": sample.sample_id,
                "task_type": sample.task_type,
                "images": fields,
                "messages": chat_messages(sample, recipe),
            }
            for field, image in zip(fields, sample.images, strict=True):
                _member(archive, f"{sample.sample_id}.{field}", image_file(folder, sample, image).read_bytes())
            _member(archive, f"{sample.sample_id}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))


class SeenKeys:
    """The keys written so far, as 16-byte digests: a sorted array plus a set of the newest, merged into it now and then.

    A set of the key strings would cost about a hundred bytes per sample; this costs about sixteen. Two different
    keys share a 128-bit BLAKE2b digest with a chance far below that of a disk error, so a digest seen is a key seen.
    """

    MERGE_EVERY = 4096

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype="V16")
        self._newest: set[bytes] = set()

    def add(self, key: str) -> bool:
        """Record ``key``; returns whether it was seen before."""
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        if digest in self._newest:
            return True
        found = np.void(digest)
        index = int(np.searchsorted(self._sorted, found))
        if index < len(self._sorted) and self._sorted[index] == found:
            return True
        self._newest.add(digest)
        if len(self._newest) >= self.MERGE_EVERY:
            newest = np.array(sorted(self._newest), dtype="V16")
            self._sorted = np.sort(np.concatenate([self._sorted, newest]))
            self._newest.clear()
        return False


def _checked(samples: Iterable[Sample]) -> Iterator[Sample]:
    """``samples``, each refused unless WebDataset can hold it under its own key."""
    keys = SeenKeys()
    for sample in samples:
        refuse_videos(sample, "the WebDataset export")
        key = sample.sample_id
        if not key or "." in key or "/" in key:
            raise ExportError(f"sample {key!r}: a WebDataset key must be non-empty, without '.' or '/'")
        if keys.add(key):
            raise ExportError(f"duplicate sample ids {key!r}: WebDataset would merge their files into one sample")
        yield sample


def export(
    samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe, samples_per_shard: int = SAMPLES_PER_SHARD
) -> list[Path]:
    """Write the shards, one sample at a time; a shard is renamed into place when it is whole.

    Args:
        samples: the release's samples, in order.
        folder: ``<release>/exports/webdataset``; images are read from ``<release>/images``.
        dataset: the shard name prefix.
        recipe: prompts for the grounding and OCR turns.
        samples_per_shard: samples per tar file (the last one may hold fewer).

    Returns:
        The shard paths, in order.

    Raises:
        ExportError: for a video sample, a key WebDataset cannot use, or a sample id seen before;
            the shards already written stay (a release is built in a folder that is removed then).
    """
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    checked = _checked(samples)
    paths = []
    while shard := list(islice(checked, samples_per_shard)):
        path = folder / SHARD_PATTERN.format(dataset=dataset, index=len(paths))
        _write_shard(path, shard, folder, recipe)
        paths.append(path)
    return paths
