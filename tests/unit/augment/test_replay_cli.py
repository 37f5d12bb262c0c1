"""``vlforge replay``: a stored augmented copy is replayed byte for byte from its parent, in a stage and in a release folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from augment_stage_data import FakeScorer, make_stage

from vlforge.augment.stage import AUGMENTED, applied_ops, augment_shard, merge_augmented, plan_shards, read_augmented
from vlforge.cli import main
from vlforge.config import load_recipe
from vlforge.release import CURATED
from vlforge.store import ImageStore


@pytest.fixture
def stage(tmp_path: Path, store: ImageStore) -> Path:
    make_stage(tmp_path / "stage", store, train=12)
    for shard in plan_shards(tmp_path / "stage", 5):
        augment_shard(tmp_path / "stage", shard, load_recipe("default"), "main", 9, store.root, scorer=FakeScorer())
    merge_augmented(tmp_path / "stage")
    return tmp_path / "stage"


def busiest_copy(stage: Path):
    return max(read_augmented(stage / AUGMENTED), key=lambda copy: len(applied_ops(copy)))


def test_replay_ok_from_a_stage(stage: Path, store: ImageStore, capsys: pytest.CaptureFixture[str]) -> None:
    copy = busiest_copy(stage)
    assert len(applied_ops(copy)) >= 3
    assert main(["replay", copy.sample_id, "--from", str(stage), "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {copy.sample_id} (parent ") and "bytes equal the stored image" in out
    assert all(entry.op in out for entry in applied_ops(copy))


def test_replay_ok_from_a_release_folder(stage: Path, store: ImageStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    release = tmp_path / "release"
    (release / "images").mkdir(parents=True)
    shutil.copyfile(stage / CURATED, release / "manifest.parquet")
    shutil.copyfile(stage / AUGMENTED, release / AUGMENTED)
    for path in store.root.rglob("*.png"):
        shutil.copyfile(path, release / "images" / path.name)
    copy = busiest_copy(stage)
    assert main(["replay", copy.sample_id, "--from", str(release), "--store", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out.startswith("OK ")


def test_replay_reports_a_mismatch(stage: Path, store: ImageStore, capsys: pytest.CaptureFixture[str]) -> None:
    copy = busiest_copy(stage)
    stored = store.path_for(copy.images[0].sha256, "png")
    stored.write_bytes(stored.read_bytes()[:-8] + b"corrupt!")
    assert main(["replay", copy.sample_id, "--from", str(stage), "--store", str(store.root)]) == 1
    assert capsys.readouterr().out.startswith(f"MISMATCH {copy.sample_id}")


def test_replay_of_an_unknown_or_original_sample(stage: Path, store: ImageStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "0000000000000000", "--from", str(stage), "--store", str(store.root)]) == 1
    assert "sample 0000000000000000 not in" in capsys.readouterr().err
    assert main(["replay", "s000000000000001", "--from", str(stage), "--store", str(store.root)]) == 1
    assert "is not an augmented copy" in capsys.readouterr().err
