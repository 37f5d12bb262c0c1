"""The compose stage over a run folder: train sources only, budgets, packing, and every composed sample replays."""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.config import Recipe
from vlforge.manifest import find_sample, read_split_manifest, write_split_manifest
from vlforge.prepare import prepare_run
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.synth.compose.rule import compose_params
from vlforge.synth.compose.stage import recompose, run_compose


def _run(tmp_path: Path, recipe: Recipe, bus_photos: dict[str, Sample], mllm_demo: list[Sample]) -> RunDescription:
    run = prepare_run(tmp_path, "composed", "run1", recipe, seed=3)
    samples = [bus_photos[f"img_{n}"] for n in range(1, 6)] + mllm_demo
    splits = ["train"] * 4 + ["val"] + ["train"] * len(mllm_demo)
    write_split_manifest(samples, splits, run.run_dir.curated)
    return run


def test_composed_samples_come_from_train_only_and_replay(
    tmp_path: Path, recipe: Recipe, bus_photos: dict[str, Sample], mllm_demo: list[Sample]
) -> None:
    run = _run(tmp_path, recipe, bus_photos, mllm_demo)
    stats = run_compose(run)
    composed, splits = read_split_manifest(run.run_dir.composed)
    by_rule = {
        rule: [s for s in composed if compose_params(s)["rule"] == rule] for rule in ("multi_turn", "multi_task", "multi_image")
    }
    # mllm_demo: two single-photo groups of EN + ZH questions; no photo has two task types; the four
    # train bus photos make multi-image groups (img_5 is in val and is never a source)
    assert [len(by_rule[rule]) for rule in ("multi_turn", "multi_task")] == [2, 0]
    assert stats["by_rule"]["multi_turn"] == {"composed": 2, "dropped": 0}
    sources = [source for sample in by_rule["multi_image"] for source in compose_params(sample)["sources"]]
    train_bus = {bus_photos[f"img_{n}"].sample_id for n in range(1, 5)}
    assert set(sources) == train_bus and len(sources) == 4
    assert bus_photos["img_5"].sample_id not in {s for sample in composed for s in compose_params(sample)["sources"]}
    assert set(splits) == {"train"} and stats["composed"] == len(composed) == 2 + len(by_rule["multi_image"])
    for sample in composed:
        assert recompose(sample, lambda sample_id: find_sample([run.run_dir.curated], sample_id)) == sample
    assert json.loads(run.run_dir.compose_stats.read_text()) == stats


def test_the_same_seed_composes_the_same_bytes(
    tmp_path: Path, recipe: Recipe, bus_photos: dict[str, Sample], mllm_demo: list[Sample]
) -> None:
    first = _run(tmp_path / "a", recipe, bus_photos, mllm_demo)
    second = _run(tmp_path / "b", recipe, bus_photos, mllm_demo)
    run_compose(first)
    run_compose(second)
    assert first.run_dir.composed.read_bytes() == second.run_dir.composed.read_bytes()


def test_limits_drop_with_reasons_and_packing_covers_the_train_split(
    tmp_path: Path, recipe: Recipe, bus_photos: dict[str, Sample], mllm_demo: list[Sample]
) -> None:
    compose = recipe.compose.model_copy(
        update={
            "max_images_per_sample": 2,
            "multi_image": recipe.compose.multi_image.model_copy(update={"min_images": 3, "max_images": 3}),
            "packing": recipe.compose.packing.model_copy(update={"enabled": True, "max_tokens": 1500}),
        }
    )
    run = _run(tmp_path, recipe.model_copy(update={"compose": compose}), bus_photos, mllm_demo)
    stats = run_compose(run)
    composed, _ = read_split_manifest(run.run_dir.composed)
    # four train bus photos make one group of three pictures, over the limit of two
    assert stats["by_rule"]["multi_image"] == {"composed": 0, "dropped": 1}
    assert stats["dropped_by_reason"] == {"too_many_images": 1}
    assert all(len(sample.images) <= 2 for sample in composed)
    packing = json.loads(run.run_dir.packing.read_text())
    packed = [sample_id for p in packing["packs"] for sample_id in p["sample_ids"]]
    train = [s.sample_id for s in (*[bus_photos[f"img_{n}"] for n in range(1, 5)], *mllm_demo, *composed)]
    assert sorted(packed + list(packing["unpacked"])) == sorted(train) and len(set(packed)) == len(packed)
    assert all(p["tokens"] <= 1500 for p in packing["packs"])
    assert stats["packing"]["packs"] == len(packing["packs"]) and stats["packing"]["efficiency"] == packing["efficiency"]


def test_vlforge_replay_recomposes_a_released_composed_sample(
    tmp_path: Path, recipe: Recipe, bus_photos: dict[str, Sample], mllm_demo: list[Sample], capsys
) -> None:
    from vlforge.cli import main
    from vlforge.layout import ReleaseDir

    run = _run(tmp_path, recipe, bus_photos, mllm_demo)
    run_compose(run)
    curated, curated_splits = read_split_manifest(run.run_dir.curated)
    composed, composed_splits = read_split_manifest(run.run_dir.composed)
    release = ReleaseDir(tmp_path / "release")
    write_split_manifest(curated + composed, curated_splits + composed_splits, release.manifest)
    multi = next(sample for sample in composed if compose_params(sample)["rule"] == "multi_image")
    assert main(["replay", multi.sample_id, "--from", str(release.path)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {multi.sample_id}: recomposed multi_image from ")
    tampered = multi.model_copy(
        update={
            "conversations": multi.conversations[:1]
            + (multi.conversations[1].model_copy(update={"content": "Picture 1: 9."}),)
            + multi.conversations[2:]
        }
    )
    write_split_manifest([*curated, tampered], [*curated_splits, "train"], release.manifest)
    assert main(["replay", multi.sample_id, "--from", str(release.path)]) == 1
    assert "differs from the stored sample" in capsys.readouterr().out
