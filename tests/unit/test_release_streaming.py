"""A release read a batch at a time: its content hash is the hash of the samples sorted by id; its splits spool in order."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pandas as pd
import pytest

import vlforge.manifest as manifest_module
from vlforge.config import Recipe
from vlforge.manifest import write_split_manifest
from vlforge.quality.agreement import METRICS
from vlforge.records import ImageRef, Sample, Source, Turn
from vlforge.release import ReleasedManifests, SplitSpools, metric_means, scan_released
from vlforge.report import read_compared

QUARANTINE = '{"row": 3, "reason": "bad box"}\n'


def _sample(sample_id: str, index: int) -> Sample:
    image = ImageRef(sha256=f"{index % 3:064x}", width=64, height=48, format="png")
    turns = (Turn(role="user", content=f"<image>Describe {index}, é"), Turn(role="assistant", content=f"A picture № {index}."))
    return Sample(
        sample_id=sample_id,
        task_type="caption",
        images=(image,),
        conversations=turns,
        synthetic=index % 4 == 0,
        source=Source(file="export.json", record_id=str(index)),
    )


def _whole_hash(samples: list[Sample], recipe: Recipe, seed: int) -> str:
    """The definition, over every sample held at once: canonical JSON lines sorted by id, then quarantine, recipe, seed."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda item: item.sample_id):
        digest.update(json.dumps(sample.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode() + b"\n")
    digest.update(QUARANTINE.encode())
    digest.update(recipe.content_hash().encode())
    digest.update(str(seed).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("batch_rows", [1, 7, 1024])
def test_the_streamed_hash_is_the_whole_hash_whatever_the_batch(
    tmp_path: Path, recipe: Recipe, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "BATCH_ROWS", batch_rows)
    ids = [f"item-{number:03d}-ü" if number % 5 else f"Item-{number}" for number in range(60)]
    random.Random(1).shuffle(ids)  # the manifests are not in id order, and ids interleave across them
    samples = [_sample(sample_id, index) for index, sample_id in enumerate(ids)]
    splits = [("train", "val", "test")[index % 3] for index in range(len(samples))]
    curated, augmented = tmp_path / "curated.parquet", tmp_path / "augmented.parquet"
    write_split_manifest(samples[:40], splits[:40], curated)
    write_split_manifest(samples[40:], splits[40:], augmented)
    manifests = ReleasedManifests((curated, augmented))

    released = scan_released(manifests, QUARANTINE, recipe, 3, tmp_path)

    assert released.content_hash == _whole_hash(samples, recipe, 3)
    assert released.content_hash != _whole_hash(samples[1:], recipe, 3)
    assert released.splits == splits
    assert released.synthetic == 15 and released.by_task_type == {"caption": 60}
    assert released.images == {(f"{index:064x}", "png") for index in range(3)}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["augmented.parquet", "curated.parquet"]  # no spool left


def test_split_spools_give_each_split_back_in_order_on_every_pass_and_leave_nothing(tmp_path: Path) -> None:
    samples = [_sample(f"s{index}", index) for index in range(9)]
    splits = ["train", "val", "train", "train", "val", "train", "train", "train", "val"]
    with SplitSpools(tmp_path) as spools:
        passed = [spools.add(sample, split) for sample, split in zip(samples, splits, strict=True)]
        first, again = list(spools.read("train")), list(spools.read("train"))
        val, test = list(spools.read("val")), list(spools.read("test"))
    assert passed == samples
    assert first == again == [sample for sample, split in zip(samples, splits, strict=True) if split == "train"]
    assert val == [samples[1], samples[4], samples[8]] and test == []
    assert list(tmp_path.iterdir()) == []


def test_the_report_reads_only_compared_agreement_rows_and_the_means_only_their_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "BATCH_ROWS", 7)
    rng = random.Random(3)
    agreement = pd.DataFrame(
        {
            "item_id": [f"item{index}" for index in range(50)],
            "task_type": [rng.choice(["caption", "grounding", "ocr"]) for _ in range(50)],
            "status": ["released"] * 50,
            "rounds_compared": [rng.choice([1, 2, 3]) for _ in range(50)],
            **{metric: [rng.random() if rng.random() < 0.7 else None for _ in range(50)] for metric in METRICS},
        }
    )
    path = tmp_path / "agreement.parquet"
    agreement.to_parquet(path, row_group_size=9)
    whole = pd.read_parquet(path)
    compared = read_compared(path)
    pd.testing.assert_frame_equal(compared, whole[whole["rounds_compared"] >= 2].reset_index(drop=True))
    assert metric_means(pd.read_parquet(path, columns=["task_type", *METRICS])) == metric_means(whole)
