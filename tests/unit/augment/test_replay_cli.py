"""``vlforge replay``: a stored augmented copy is replayed byte for byte from its parent, in a run folder and in a release folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from augment_stage_data import augment_all, augment_run, make_curated

from vlforge.augment.lineage import applied_ops
from vlforge.cli import main
from vlforge.layout import ReleaseDir
from vlforge.manifest import read_augmented, read_split_manifest, write_split_manifest
from vlforge.run import RunDescription


@pytest.fixture
def run(tmp_path: Path) -> RunDescription:
    run = augment_run(tmp_path, seed=9, shard_size=5)
    make_curated(run, train=12)
    augment_all(run)
    return run


def busiest_copy(run: RunDescription):
    return max(read_augmented(run.run_dir.augmented), key=lambda copy: len(applied_ops(copy)))


def replay(run: RunDescription, sample_id: str, folder: Path | None = None, store: Path | None = None) -> int:
    """``vlforge replay`` of ``sample_id`` from ``folder`` (default: the run's folder) with ``store`` (default: the run's)."""
    return main(["replay", sample_id, "--from", str(folder or run.run_dir.path), "--store", str(store or run.store_dir)])


def test_replay_ok_from_a_run_folder(run: RunDescription, capsys: pytest.CaptureFixture[str]) -> None:
    copy = busiest_copy(run)
    assert len(applied_ops(copy)) == 7
    assert replay(run, copy.sample_id) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {copy.sample_id} (parent ") and "bytes equal the stored image" in out
    assert all(entry.op in out for entry in applied_ops(copy))


def test_replay_ok_from_a_release_folder(run: RunDescription, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a release holds the curated samples and their copies in one manifest, and its images beside it
    release = ReleaseDir(tmp_path / "release")
    release.images.mkdir(parents=True)
    samples, splits = read_split_manifest(run.run_dir.curated)
    copies, copy_splits = read_split_manifest(run.run_dir.augmented)
    write_split_manifest(samples + copies, splits + copy_splits, release.manifest)
    for path in run.store.root.rglob("*.*"):
        shutil.copyfile(path, release.images / path.name)
    copy = busiest_copy(run)
    assert replay(run, copy.sample_id, release.path, tmp_path / "empty") == 0
    assert capsys.readouterr().out.startswith("OK ")


def test_replay_reports_a_mismatch(run: RunDescription, capsys: pytest.CaptureFixture[str]) -> None:
    copy = busiest_copy(run)
    stored = run.store.path_for(copy.images[0].sha256, copy.images[0].format)
    stored.write_bytes(stored.read_bytes()[:-8] + b"corrupt!")
    assert replay(run, copy.sample_id) == 1
    assert capsys.readouterr().out.startswith(f"MISMATCH {copy.sample_id}")


def test_replay_of_an_unknown_or_original_sample(run: RunDescription, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(run, "0000000000000000") == 1
    assert "sample 0000000000000000 not in" in capsys.readouterr().err
    assert replay(run, "s000000000000001") == 1
    assert "is not an augmented copy" in capsys.readouterr().err
