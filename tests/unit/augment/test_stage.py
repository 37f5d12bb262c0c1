"""The augment stage: shards of the train split, phases, byte-identical reruns, merge counts, paraphrases."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from augment_stage_data import FakeScorer, augment_all, augment_run, make_curated, with_augment

from vlforge.augment.config import AugmentConfig
from vlforge.augment.lineage import applied_ops, parent_id
from vlforge.augment.stage import augment_shard, merge_augmented, plan_shards
from vlforge.config import load_recipe
from vlforge.manifest import read_augmented


def test_plan_covers_the_train_split_only(tmp_path: Path) -> None:
    run = augment_run(tmp_path, shard_size=4)
    train = make_curated(run, train=10, held_out=3)
    shards = plan_shards(run)
    assert [(s["name"], s["offset"], s["count"]) for s in shards] == [
        ("shard-00000", 0, 4), ("shard-00001", 4, 3), ("shard-00002", 7, 3)  # as few as 4 allows, of equal sizes
    ]
    plan = json.loads(run.run_dir.augment_plan.read_text())
    assert plan["samples_by_split"] == {"test": 3, "train": 10, "val": 3} and plan["train_samples"] == 10
    stats = augment_all(run)
    copies = read_augmented(run.run_dir.augmented)
    assert sorted(parent_id(copy) for copy in copies) == sorted(sample.sample_id for sample in train)
    assert (stats["parents"], stats["augmented"], stats["dropped"]) == (10, 10, 0)


def test_the_copies_do_not_depend_on_how_the_train_split_is_sharded(tmp_path: Path) -> None:
    released = []
    for shard_size in (3, 13):
        run = augment_run(tmp_path / f"size{shard_size}", seed=5, shard_size=shard_size)
        make_curated(run, train=13)
        augment_all(run)
        released.append(pq.read_table(run.run_dir.augmented).to_pylist())
    assert released[0] and released[0] == released[1]


def test_warmup_applies_only_crop(tmp_path: Path) -> None:
    run = augment_run(tmp_path, phase="warmup")
    make_curated(run, train=40)
    stats = augment_all(run)
    copies = read_augmented(run.run_dir.augmented)
    applied = [entry.op for copy in copies for entry in applied_ops(copy)]
    assert set(applied) == {"random_resized_crop"}
    assert list(stats["ops"]) == ["random_resized_crop"] and stats["ops"]["random_resized_crop"]["applied"] == len(applied)
    assert stats["phase"] == "warmup" and stats["augmented"] == 40


def test_finetune_makes_no_copies(tmp_path: Path) -> None:
    run = augment_run(tmp_path, phase="finetune")
    make_curated(run, train=12)
    files_before = sorted(run.store.root.rglob("*.*"))
    stats = augment_all(run)
    assert stats["copies_per_sample"] == 0 and stats["augmented"] == 0 and stats["parents"] == 0
    assert pq.read_table(run.run_dir.augmented).num_rows == 0
    assert sorted(run.store.root.rglob("*.*")) == files_before


def test_shard_rerun_writes_identical_files(tmp_path: Path) -> None:
    run = augment_run(tmp_path, with_augment(load_recipe("default"), copies_per_sample=2), seed=3, shard_size=16)
    make_curated(run, train=16)
    (shard,) = plan_shards(run)
    shard_files = [run.run_dir.augment_shard(shard["name"]), run.run_dir.augment_shard_counts(shard["name"])]
    first = augment_shard(run, shard, scorer=FakeScorer())
    files = {path.name: path.read_bytes() for path in shard_files}
    images = sorted(run.store.root.rglob("*.*"))
    second = augment_shard(run, shard, scorer=FakeScorer())
    assert second == first and first["augmented"] + first["dropped"] == 32
    assert {path.name: path.read_bytes() for path in shard_files} == files
    assert sorted(run.store.root.rglob("*.*")) == images
    other_seed = augment_shard(replace(run, seed=4), shard, scorer=FakeScorer())
    assert other_seed["ops"] != first["ops"] or run.run_dir.augment_shard("shard-00000").read_bytes() != files[
        "shard-00000.parquet"
    ]


def test_copies_are_sorted_and_images_are_in_the_store(tmp_path: Path) -> None:
    run = augment_run(tmp_path, with_augment(load_recipe("default"), copies_per_sample=2), shard_size=6)
    make_curated(run, train=20)
    augment_all(run)
    table = pq.read_table(run.run_dir.augmented)
    ids = table.column("sample_id").to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(table.column("split").to_pylist()) == {"train"} and set(table.column("copy_index").to_pylist()) == {0, 1}
    for copy in read_augmented(run.run_dir.augmented):
        assert run.store.contains(copy.images[0].sha256, copy.images[0].format)


def test_merge_names_missing_shards(tmp_path: Path) -> None:
    run = augment_run(tmp_path, seed=1, shard_size=4)
    make_curated(run, train=10)
    shards = plan_shards(run)
    augment_shard(run, shards[0], scorer=FakeScorer())
    with pytest.raises(FileNotFoundError, match=r"shard-00001.*shard-00002"):
        merge_augmented(run)


def test_changed_curated_file_needs_a_new_plan(tmp_path: Path) -> None:
    run = augment_run(tmp_path, seed=1, shard_size=10)
    make_curated(run, train=10)
    (shard,) = plan_shards(run)
    make_curated(run, train=11)
    with pytest.raises(ValueError, match="plan them again"):
        augment_shard(run, shard)


class RejectAll(FakeScorer):
    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        return [(0.5, 0.5, 0.5)] * len(candidates)


@pytest.mark.slow
def test_paraphrases_kept_above_threshold_and_rejected_below(tmp_path: Path) -> None:
    run = augment_run(tmp_path)
    make_curated(run, train=60)
    kept = augment_all(run)
    paraphrase = kept["paraphrase"]
    assert paraphrase == {"candidates": 24, "kept": 13, "rejected": 0, "unchanged": 11}
    entries = [json.loads(e.params_json) for c in read_augmented(run.run_dir.augmented) for e in c.lineage if e.op == "paraphrase"]
    assert len(entries) == paraphrase["kept"] and all(t["f1"] >= 0.85 for entry in entries for t in entry["turns"])

    rejected = augment_all(run, scorer=RejectAll())["paraphrase"]
    assert rejected["kept"] == 0 and rejected["rejected"] == paraphrase["kept"] + paraphrase["rejected"]
    assert not any(e.op == "paraphrase" for c in read_augmented(run.run_dir.augmented) for e in c.lineage)
    stats = json.loads(run.run_dir.augment_stats.read_text())
    assert stats["paraphrase"] == rejected


def test_drop_sample_counts_lost_objects(tmp_path: Path) -> None:
    tight_crop = ({"random_resized_crop": {"probability": 1.0, "scale_range": (0.1, 0.15), "min_visibility": 0.9}},)
    recipe = with_augment(load_recipe("default"), ops=tight_crop, on_lost_object="drop_sample", phases={"main": AugmentConfig().phases["main"]})
    run = augment_run(tmp_path, recipe)
    make_curated(run, train=30, ocr_every=0)
    stats = augment_all(run)
    # a crop of 10-15% of the image can hardly hold 90% of the 24x24 square (14% of it): here every copy loses it
    assert (stats["augmented"], stats["dropped"], stats["dropped_by_reason"]) == (0, 30, {"lost_object": 30})


def test_recipe_augment_section() -> None:
    augment = load_recipe("default").augment
    probabilities = {spec.name: spec.probability for spec in augment.op_specs()}
    assert {k: probabilities[k] for k in ("random_resized_crop", "color_jitter", "gaussian_noise", "ocr_degradation", "random_erasing")} == {
        "random_resized_crop": 0.7, "color_jitter": 0.5, "gaussian_noise": 0.3, "ocr_degradation": 0.4, "random_erasing": 0.6
    }
    ocr = next(spec for spec in augment.op_specs() if spec.name == "ocr_degradation")
    assert ocr.applies_to("ocr") and not ocr.applies_to("caption")
    assert (augment.copies("warmup"), augment.copies("main"), augment.copies("finetune")) == (1, 1, 0)
    assert augment.paraphrase.backend == "rule" and augment.paraphrase.bertscore_threshold == 0.85
    with pytest.raises(ValueError, match="known phases: finetune, main, warmup"):
        augment.phase("cooldown")
    with pytest.raises(ValueError, match="not in augment.ops"):
        AugmentConfig(phases={"warmup": {"ops": ["resize"]}})
    with pytest.raises(ValueError, match=r"probability 1.5 not in \[0, 1\]"):
        AugmentConfig(ops=({"jpeg": {"probability": 1.5}},))
