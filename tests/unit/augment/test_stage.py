"""The augment stage: shards of the train split, phases, byte-identical reruns, merge counts, paraphrases."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from augment_stage_data import FakeScorer, make_stage

from vlforge.augment.config import AugmentConfig
from vlforge.augment.stage import (
    AUGMENT_DIR,
    AUGMENT_STATS,
    AUGMENTED,
    applied_ops,
    augment_shard,
    merge_augmented,
    parent_id,
    plan_shards,
    read_augmented,
)
from vlforge.config import Recipe, load_recipe
from vlforge.store import ImageStore


def with_augment(recipe: Recipe, **update: object) -> Recipe:
    return recipe.model_copy(update={"augment": recipe.augment.model_copy(update=update)})


def run_stage(stage: Path, store: ImageStore, recipe: Recipe, phase: str, shard_size: int = 8, scorer=None) -> dict:
    for shard in plan_shards(stage, shard_size):
        augment_shard(stage, shard, recipe, phase, 11, store.root, scorer=scorer or FakeScorer())
    return merge_augmented(stage)


def test_plan_covers_the_train_split_only(tmp_path: Path, store: ImageStore) -> None:
    train = make_stage(tmp_path / "stage", store, train=10, held_out=3)
    shards = plan_shards(tmp_path / "stage", 4)
    assert [(s["name"], s["offset"], s["count"]) for s in shards] == [
        ("shard-00000", 0, 4), ("shard-00001", 4, 4), ("shard-00002", 8, 2)
    ]
    plan = json.loads((tmp_path / "stage" / AUGMENT_DIR / "plan.json").read_text())
    assert plan["samples_by_split"] == {"test": 3, "train": 10, "val": 3} and plan["train_samples"] == 10
    stats = run_stage(tmp_path / "stage", store, load_recipe("default"), "main", shard_size=4)
    copies = read_augmented(tmp_path / "stage" / AUGMENTED)
    assert {parent_id(copy) for copy in copies} <= {sample.sample_id for sample in train}
    assert stats["parents"] == 10 and stats["augmented"] + stats["dropped"] == 10


def test_warmup_applies_only_crop(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=40)
    stats = run_stage(tmp_path / "stage", store, load_recipe("default"), "warmup")
    copies = read_augmented(tmp_path / "stage" / AUGMENTED)
    applied = [entry.op for copy in copies for entry in applied_ops(copy)]
    assert set(applied) == {"random_resized_crop"}
    assert list(stats["ops"]) == ["random_resized_crop"] and stats["ops"]["random_resized_crop"]["applied"] == len(applied)
    assert stats["phase"] == "warmup" and stats["augmented"] == 40


def test_finetune_makes_no_copies(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=12)
    files_before = sorted(store.root.rglob("*.png"))
    stats = run_stage(tmp_path / "stage", store, load_recipe("default"), "finetune")
    assert stats["copies_per_sample"] == 0 and stats["augmented"] == 0 and stats["parents"] == 0
    assert pq.read_table(tmp_path / "stage" / AUGMENTED).num_rows == 0
    assert sorted(store.root.rglob("*.png")) == files_before


def test_shard_rerun_writes_identical_files(tmp_path: Path, store: ImageStore) -> None:
    stage = tmp_path / "stage"
    make_stage(stage, store, train=16)
    recipe = with_augment(load_recipe("default"), copies_per_sample=2)
    (shard,) = plan_shards(stage, 16)
    first = augment_shard(stage, shard, recipe, "main", 3, store.root, scorer=FakeScorer())
    files = {path.name: path.read_bytes() for path in (stage / AUGMENT_DIR).glob("shard-*")}
    images = sorted(store.root.rglob("*.png"))
    second = augment_shard(stage, shard, recipe, "main", 3, store.root, scorer=FakeScorer())
    assert second == first and first["augmented"] + first["dropped"] == 32
    assert {path.name: path.read_bytes() for path in (stage / AUGMENT_DIR).glob("shard-*")} == files
    assert sorted(store.root.rglob("*.png")) == images
    other_seed = augment_shard(stage, shard, recipe, "main", 4, store.root, scorer=FakeScorer())
    assert other_seed["ops"] != first["ops"] or (stage / AUGMENT_DIR / "shard-00000.parquet").read_bytes() != files[
        "shard-00000.parquet"
    ]


def test_copies_are_sorted_and_images_are_in_the_store(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=20)
    run_stage(tmp_path / "stage", store, with_augment(load_recipe("default"), copies_per_sample=2), "main", shard_size=6)
    table = pq.read_table(tmp_path / "stage" / AUGMENTED)
    ids = table.column("sample_id").to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(table.column("split").to_pylist()) == {"train"} and set(table.column("copy_index").to_pylist()) == {0, 1}
    for copy in read_augmented(tmp_path / "stage" / AUGMENTED):
        assert store.contains(copy.images[0].sha256, "png")


def test_merge_names_missing_shards(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=10)
    shards = plan_shards(tmp_path / "stage", 4)
    augment_shard(tmp_path / "stage", shards[0], load_recipe("default"), "main", 1, store.root, scorer=FakeScorer())
    with pytest.raises(FileNotFoundError, match=r"shard-00001.*shard-00002"):
        merge_augmented(tmp_path / "stage")


def test_changed_curated_file_needs_a_new_plan(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=10)
    (shard,) = plan_shards(tmp_path / "stage", 10)
    make_stage(tmp_path / "stage", store, train=11)
    with pytest.raises(ValueError, match="plan them again"):
        augment_shard(tmp_path / "stage", shard, load_recipe("default"), "main", 1, store.root)


class RejectAll(FakeScorer):
    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        return [(0.5, 0.5, 0.5)] * len(candidates)


def test_paraphrases_kept_above_threshold_and_rejected_below(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=60)
    recipe = load_recipe("default")
    kept = run_stage(tmp_path / "stage", store, recipe, "main")
    paraphrase = kept["paraphrase"]
    assert paraphrase["kept"] > 0 and paraphrase["kept"] + paraphrase["rejected"] + paraphrase["unchanged"] == paraphrase["candidates"]
    entries = [json.loads(e.params_json) for c in read_augmented(tmp_path / "stage" / AUGMENTED) for e in c.lineage if e.op == "paraphrase"]
    assert len(entries) > 0 and all(t["f1"] >= 0.85 for entry in entries for t in entry["turns"])

    rejected = run_stage(tmp_path / "stage", store, recipe, "main", scorer=RejectAll())["paraphrase"]
    assert rejected["kept"] == 0 and rejected["rejected"] == paraphrase["kept"] + paraphrase["rejected"]
    assert not any(e.op == "paraphrase" for c in read_augmented(tmp_path / "stage" / AUGMENTED) for e in c.lineage)
    stats = json.loads((tmp_path / "stage" / AUGMENT_STATS).read_text())
    assert stats["paraphrase"] == rejected


def test_drop_sample_counts_lost_objects(tmp_path: Path, store: ImageStore) -> None:
    make_stage(tmp_path / "stage", store, train=30, ocr_every=0)
    tight_crop = ({"random_resized_crop": {"probability": 1.0, "scale_range": (0.1, 0.15), "min_visibility": 0.9}},)
    recipe = with_augment(load_recipe("default"), ops=tight_crop, on_lost_object="drop_sample", phases={"main": AugmentConfig().phases["main"]})
    stats = run_stage(tmp_path / "stage", store, recipe, "main")
    assert stats["dropped"] > 0 and stats["dropped_by_reason"] == {"lost_object": stats["dropped"]}
    assert stats["augmented"] + stats["dropped"] == 30


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
