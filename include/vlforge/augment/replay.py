"""Replay: recreate an augmented copy from its parent and its lineage, and compare the bytes.

``vlforge replay`` calls ``check_replay`` on a release folder or a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlforge.augment.lineage import applied_ops, parent_id
from vlforge.augment.pipeline import VIDEO_SAMPLING, replay, replay_video
from vlforge.layout import ReleaseDir, sample_manifests
from vlforge.manifest import find_sample
from vlforge.store import ImageStore, sha256_bytes


@dataclass(frozen=True)
class ReplayCheck:
    """What ``check_replay`` found: ``ok`` when the replayed bytes equal the stored image (or clip, for a video copy)."""

    sample_id: str
    parent_id: str
    ok: bool
    ops: tuple[str, ...]
    stored_sha256: str
    replayed_sha256: str
    detail: str


def check_replay(folder: Path, sample_id: str, store_dir: Path | None = None) -> ReplayCheck:
    """Replay an augmented copy from its parent and compare the bytes with its stored image.

    A video copy (one video, a ``video_sampling`` lineage entry) is replayed with
    ``pipeline.replay_video`` from its parent's video and compared with its stored clip.

    Args:
        folder: a release folder or a run folder (or one Parquet manifest in it): the copy and
            its parent are looked up in its manifests, most derived first.
        sample_id: the copy's sample id.
        store_dir: the image store; the folder's ``images/`` (a release) is tried first.

    Returns:
        The check; ``ok`` is False when the bytes differ or the stored image is missing.

    Raises:
        LookupError: when the copy, its lineage's parent or the parent's image cannot be found.
    """
    folder = Path(folder)
    candidates = sample_manifests(folder)
    files = [path for path in candidates if path.is_file()]
    base = folder.parent if folder.is_file() else folder
    if not files:
        raise LookupError(f"no manifest in {folder}; looked for {', '.join(path.name for path in candidates)}")
    sample = find_sample(files, sample_id)
    if sample is None:
        raise LookupError(f"sample {sample_id} not in {', '.join(str(path) for path in files)}")
    parent_key = parent_id(sample)
    if parent_key is None:
        raise LookupError(f"sample {sample_id} is not an augmented copy: its lineage has no 'parent' entry")
    parent = find_sample(files, parent_key)
    if parent is None:
        raise LookupError(f"parent {parent_key} of {sample_id} not in {', '.join(str(path) for path in files)}")
    stores = [ReleaseDir(base).images] + ([Path(store_dir)] if store_dir else [])

    def media_path(sha256: str, extension: str) -> Path | None:
        for root in stores:
            for path in (root / f"{sha256}.{extension}", ImageStore(root).path_for(sha256, extension)):
                if path.is_file():
                    return path
        return None

    def image_bytes(sha256: str, extension: str) -> bytes | None:
        path = media_path(sha256, extension)
        return path.read_bytes() if path else None

    if sample.videos and not sample.images:
        parent_video, ref = parent.videos[0], sample.videos[0]
        parent_path = media_path(parent_video.sha256, parent_video.format)
        if parent_path is None:
            raise LookupError(f"parent video {parent_video.file_name} not found in {', '.join(map(str, stores))}")
        replayed = replay_video(parent, parent_path, sample.lineage)
        ops: tuple[str, ...] = (VIDEO_SAMPLING,)
    else:
        parent_ref, ref = parent.images[0], sample.images[0]
        parent_data = image_bytes(parent_ref.sha256, parent_ref.format)
        if parent_data is None:
            raise LookupError(f"parent image {parent_ref.file_name} not found in {', '.join(map(str, stores))}")
        replayed = replay(parent, parent_data, sample.lineage)
        ops = tuple(entry.op for entry in applied_ops(sample))
    stored = image_bytes(ref.sha256, ref.format)
    replayed_sha = sha256_bytes(replayed)
    kind = "clip" if sample.videos and not sample.images else "image"
    if stored is None:
        detail = f"stored {kind} {ref.file_name} not found; replayed {replayed_sha[:12]}"
    elif stored != replayed:
        detail = f"replayed bytes {replayed_sha[:12]} differ from the stored {kind} {sha256_bytes(stored)[:12]}"
    else:
        detail = f"replayed {len(ops)} op(s) from parent {parent.sample_id}: bytes equal the stored {kind} {ref.sha256[:12]}"
    ok = stored is not None and stored == replayed and replayed_sha == ref.sha256
    return ReplayCheck(sample_id, parent.sample_id, ok, ops, ref.sha256, replayed_sha, detail)
