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

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.qwen_finetune import chat_messages
from vlforge.export.render import ExportError, image_file, refuse_videos
from vlforge.records import Sample

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


def _write_shard(path: Path, samples: list[Sample], folder: Path, recipe: Recipe) -> None:
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as archive:
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
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def export(
    samples: list[Sample], folder: Path, dataset: str, recipe: Recipe, samples_per_shard: int = SAMPLES_PER_SHARD
) -> list[Path]:
    """Write the shards.

    Args:
        samples: the release's samples, in order.
        folder: ``<release>/exports/webdataset``; images are read from ``<release>/images``.
        dataset: the shard name prefix.
        recipe: prompts for the grounding and OCR turns.
        samples_per_shard: samples per tar file (the last one may hold fewer).

    Returns:
        The shard paths, in order.
    """
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    for sample in samples:
        refuse_videos(sample, "the WebDataset export")
    keys = [sample.sample_id for sample in samples]
    for key in keys:
        if not key or "." in key or "/" in key:
            raise ExportError(f"sample {key!r}: a WebDataset key must be non-empty, without '.' or '/'")
    if len(set(keys)) != len(keys):
        raise ExportError("duplicate sample ids: WebDataset would merge their files into one sample")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, start in enumerate(range(0, len(samples), samples_per_shard)):
        path = folder / SHARD_PATTERN.format(dataset=dataset, index=index)
        _write_shard(path, samples[start : start + samples_per_shard], folder, recipe)
        paths.append(path)
    return paths
