"""Publishing releases: atomic, content-addressed, idempotent, and never half-written."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from vlforge import release as release_module
from vlforge.config import Recipe, load_recipe
from vlforge.curate.stage import run_curate
from vlforge.demo import prepare_demo
from vlforge.export import VIDEO_FORMATS, VIDEO_NOT_SUPPORTED
from vlforge.ingest import run_ingest
from vlforge.ingest.gate import run_ingest_gate
from vlforge.manifest import read_manifest
from vlforge.prepare import prepare_run
from vlforge.quality.gate import run_quality_gate
from vlforge.quality.stage import run_agreement
from vlforge.release import latest_version, publish_release
from vlforge.run import RunDescription

# Each module fixture runs the demo through ingest, the gates and agreement, BERTScore's MiniLM included.
pytestmark = pytest.mark.slow


def _stage(root: Path, recipe: Recipe) -> RunDescription:
    """A demo run ingested, measured and gated under ``root``."""
    export = prepare_demo(root / "demo")
    run = prepare_run(root, "demo", "run1", recipe, source=str(export))
    run_ingest(run)
    run_ingest_gate(run)
    run_agreement(run)
    run_quality_gate(run)
    return run


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> RunDescription:
    return _stage(tmp_path_factory.mktemp("staged"), load_recipe("default"))


def _publish(staged: RunDescription, home: Path, recipe: Recipe, seed: int = 0) -> dict[str, object]:
    """Publish ``staged``'s gated work from a run in ``home`` with ``recipe`` and ``seed``, curated for them."""
    run = prepare_run(home, staged.dataset, staged.run, recipe, source="demo", seed=seed)
    for path in staged.run_dir.path.iterdir():
        target = run.run_dir.path / path.name
        if path.name != run.run_dir.recipe.name and not target.exists():
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, target)
    for stored in staged.store_dir.rglob("*.*"):
        target = run.store_dir / stored.relative_to(staged.store_dir)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(stored, target)
    run_curate(run)
    return publish_release(run)


def test_release_folder_holds_everything(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    published = _publish(staged, tmp_path, recipe)
    folder = Path(str(published["path"]))
    assert folder == tmp_path / "releases" / "demo" / str(published["version"])
    names = {path.name for path in folder.iterdir()}
    assert names == {
        "RELEASE.json",
        "manifest.parquet",
        "agreement.parquet",
        "quarantine.jsonl",
        "curate_drops.jsonl",
        "review",
        "exports",
        "gx",
        "gx_results",
        "images",
        "report.html",
        "report_assets",
        "report_gallery.html",
        "thumbnails",
    }
    release = json.loads((folder / "RELEASE.json").read_text())
    assert set(release) == {
        "version", "dataset", "created_at", "content_hash", "parent_version", "source", "counts", "metrics", "gates",
        "recipe", "recipe_hash", "seed", "exports", "numerics",
    }  # fmt: skip
    assert release["recipe"] == recipe.model_dump(mode="json")
    # The images of released samples, and of the item in review, which the review tasks show.
    assert release["counts"]["images"] == 5 and len(list((folder / "images").iterdir())) == 6
    assert latest_version(tmp_path, "demo") == published["version"]
    assert not [path for path in folder.parent.iterdir() if path.name.startswith(".")]


def test_release_exports_each_split_apart(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    published = _publish(staged, tmp_path, recipe)
    folder = Path(str(published["path"]))
    by_split = {split: published["counts"]["by_split"][split] for split in ("train", "val", "test")}
    by_split = {split: count for split, count in by_split.items() if count}  # in export order
    exports = published["exports"]
    assert set(exports) == set(recipe.export.formats)
    listed = sorted(name for files in exports.values() for name in files)
    assert listed == sorted(str(path.relative_to(folder / "exports")) for path in (folder / "exports").rglob("*") if path.is_file())
    names = [f"demo_{split}{variant}" for split in by_split for variant in ("", "_qwen2_5_vl")]  # 0-1000, Qwen2.5-VL pixels
    ready = [f"llamafactory/train_{model}.yaml" for model in recipe.export.target_models]
    assert exports["llamafactory"] == [f"llamafactory/{name}.json" for name in names] + ["llamafactory/dataset_info.json", *ready]
    assert exports["parquet"] == [f"parquet/demo_{split}.parquet" for split in by_split]
    assert exports["coco"] == [f"coco/{kind}_demo_{split}.json" for split in by_split for kind in ("instances", "captions")]
    info = json.loads((folder / "exports/llamafactory/dataset_info.json").read_text())
    assert list(info) == names
    manifest = pq.read_table(folder / "manifest.parquet")
    split_of = dict(zip(manifest.column("sample_id").to_pylist(), manifest.column("split").to_pylist(), strict=True))
    for split, count in by_split.items():
        records = json.loads((folder / f"exports/qwen3_vl/demo_{split}.json").read_text())
        assert len(records) == count and {split_of[record["id"]] for record in records} == {split}
    # Every format wrote every sample (the demo has no video): counts per split, nothing skipped.
    assert published["counts"]["exports"] == {
        name: {"written": 5, "written_by_split": by_split, "skipped": 0, "skipped_by_reason": {}} for name in recipe.export.formats
    }


@pytest.fixture(scope="module")
def video_staged(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> RunDescription:
    """LLaMA-Factory's mllm_video_demo.json ingested, measured and gated."""
    source = fixtures_dir / "llamafactory/data/mllm_video_demo.json"
    run = prepare_run(tmp_path_factory.mktemp("video"), "demo", "run1", "default", source=str(source), source_format="llamafactory")
    run_ingest(run)
    run_ingest_gate(run)
    run_agreement(run)
    run_quality_gate(run)
    return run


def test_a_video_release_links_its_videos_and_skips_them_where_a_format_cannot_hold_video(
    video_staged: RunDescription, recipe: Recipe, tmp_path: Path, fixtures_dir: Path
) -> None:
    published = _publish(video_staged, tmp_path, recipe)
    folder = Path(str(published["path"]))
    demo = fixtures_dir / "llamafactory/data/mllm_demo_data"
    linked = sorted(path.read_bytes() for path in (folder / "videos").iterdir())
    assert linked == sorted((demo / name).read_bytes() for name in ("1.mp4", "2.avi", "3.mp4"))
    assert not (folder / "images").exists()
    counts = published["counts"]
    assert (counts["samples"], counts["videos"], counts["images"]) == (3, 3, 0)
    by_split = {split: counts["by_split"][split] for split in ("train", "val", "test") if counts["by_split"][split]}
    for name in recipe.export.formats:
        if name in VIDEO_FORMATS:
            assert counts["exports"][name] == {"written": 3, "written_by_split": by_split, "skipped": 0, "skipped_by_reason": {}}
        else:
            assert counts["exports"][name] == {
                "written": 0,
                "written_by_split": {},
                "skipped": 3,
                "skipped_by_reason": {VIDEO_NOT_SUPPORTED: 3},
            }
            assert published["exports"][name] == []
    sharegpt = [
        record
        for split in by_split
        for record in json.loads((folder / f"exports/llamafactory/demo_{split}.json").read_text())
    ]
    assert len(sharegpt) == 3
    for record in sharegpt:
        (video,) = record["videos"]
        assert (folder / "exports/llamafactory" / video).resolve().is_file()
        assert record["messages"][0]["content"].startswith("<video>")
    assert {entry["columns"]["videos"] for entry in json.loads((folder / "exports/llamafactory/dataset_info.json").read_text()).values()} == {"videos"}
    assert len(read_manifest(folder / "manifest.parquet")[0].videos) == 1


def test_rerun_returns_the_same_release(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    first = _publish(staged, tmp_path, recipe)
    created = (Path(str(first["path"])) / "RELEASE.json").stat().st_mtime_ns
    second = _publish(staged, tmp_path, recipe)
    assert second["version"] == first["version"]
    assert (Path(str(second["path"])) / "RELEASE.json").stat().st_mtime_ns == created
    assert {path.name for path in (tmp_path / "releases" / "demo").iterdir()} == {"LATEST", first["version"]}


def test_another_seed_is_another_version_with_the_first_as_parent(
    staged: RunDescription, recipe: Recipe, tmp_path: Path
) -> None:
    first = _publish(staged, tmp_path, recipe, seed=0)
    second = _publish(staged, tmp_path, recipe, seed=1)
    assert second["version"] != first["version"]
    assert second["parent_version"] == first["version"]
    assert latest_version(tmp_path, "demo") == second["version"]


def test_same_inputs_give_the_same_hash_wherever_they_lie(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    elsewhere = _stage(tmp_path / "elsewhere", recipe)
    assert _publish(elsewhere, tmp_path / "a", recipe)["content_hash"] == _publish(staged, tmp_path / "b", recipe)["content_hash"]


def test_a_changed_recipe_changes_the_hash(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    other = recipe.model_copy(update={"prompts": recipe.prompts.model_copy(update={"caption": "What is shown?"})})
    assert _publish(staged, tmp_path / "a", recipe)["content_hash"] != _publish(staged, tmp_path / "b", other)["content_hash"]


def test_a_failed_gate_makes_no_release(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    failing = _stage(tmp_path / "failing", recipe)
    summary = failing.run_dir.gate_summary("ingest")
    summary.write_text(json.dumps(json.loads(summary.read_text()) | {"passed": False, "failed": ["expect_x"]}))
    with pytest.raises(RuntimeError, match="gates not passed"):
        _publish(failing, tmp_path, recipe)
    assert not (tmp_path / "releases" / "demo").exists() or not any((tmp_path / "releases" / "demo").iterdir())


def test_a_crash_while_building_leaves_the_previous_release_untouched(
    staged: RunDescription, recipe: Recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _publish(staged, tmp_path, recipe, seed=0)

    def broken_export(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(release_module, "export_all_streaming", broken_export)
    with pytest.raises(OSError, match="disk full"):
        _publish(staged, tmp_path, recipe, seed=5)
    assert {path.name for path in (tmp_path / "releases" / "demo").iterdir()} == {"LATEST", first["version"]}
    assert latest_version(tmp_path, "demo") == first["version"]


def test_release_carries_metric_means_splits_and_synthetic_share(
    staged: RunDescription, recipe: Recipe, tmp_path: Path
) -> None:
    published = _publish(staged, tmp_path, recipe)
    folder = Path(str(published["path"]))
    agreement = pd.read_parquet(folder / "agreement.parquet")
    metrics = published["metrics"]
    # The gate's numbers: every compared item, released or in review.
    assert metrics["iou_agreement"] == pytest.approx(agreement["iou_agreement"].mean())
    grounding = agreement[agreement["task_type"] == "grounding"]
    assert metrics["by_task_type"]["grounding"]["bertscore_f1"] == pytest.approx(grounding["bertscore_f1"].mean())
    assert metrics["by_task_type"]["ocr"]["ocr_accuracy"] == 1.0
    assert metrics["action_completeness"] is None and metrics["by_task_type"]["caption"]["iou_agreement"] is None
    counts = published["counts"]
    manifest = pq.read_table(folder / "manifest.parquet")
    assert manifest.num_rows == counts["samples"] == counts["curate"]["kept"] == 5
    assert Counter(manifest.column("split").to_pylist()) == Counter({k: v for k, v in counts["by_split"].items() if v})
    assert (counts["synthetic"], counts["synthetic_share"]) == (0, 0.0)
    assert len(read_manifest(folder / "manifest.parquet")) == 5  # the split column does not disturb manifest readers


def test_curation_drops_are_left_out_and_listed(staged: RunDescription, recipe: Recipe, tmp_path: Path) -> None:
    filters = recipe.curate.filters.model_copy(update={"min_side": 400})
    strict = recipe.model_copy(update={"curate": recipe.curate.model_copy(update={"filters": filters})})
    published = _publish(staged, tmp_path, strict)
    folder = Path(str(published["path"]))
    curated = published["counts"]["curate"]
    drops = [json.loads(line) for line in (folder / "curate_drops.jsonl").read_text().splitlines()]
    # the cat photograph (451x300) and the scanned page (384x191) are under 400 px on their short side
    assert (curated["kept"], curated["dropped"]) == (3, 2) and sorted(drop["value"] for drop in drops) == ["384x191", "451x300"]
    assert {drop["reason"] for drop in drops} == {"min_side"} and all(drop["stage"] == "filter" for drop in drops)
    kept_ids = {sample.sample_id for sample in read_manifest(folder / "manifest.parquet")}
    assert len(kept_ids) == curated["kept"] and not kept_ids & {drop["sample_id"] for drop in drops}
    assert sum(published["counts"]["by_task_type"].values()) == curated["kept"]
    assert published["content_hash"] != _publish(staged, tmp_path / "default", recipe)["content_hash"]


def test_export_workers_are_the_cores_for_a_large_release_and_one_for_a_small_one_or_a_daemonic_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing
    import os

    cores = len(os.sched_getaffinity(0))
    assert release_module.export_workers(release_module.PARALLEL_EXPORTS_FROM) == cores
    assert release_module.export_workers(release_module.PARALLEL_EXPORTS_FROM - 1) == 1
    # a release task that Celery's prefork pool runs: multiprocessing would refuse it children
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert release_module.export_workers(release_module.PARALLEL_EXPORTS_FROM) == 1
