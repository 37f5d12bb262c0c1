"""The review loop's decisions that need no server: image URLs under the document root, the reviewer's
annotation, where the next run reads. Push and pull against a real Label Studio are in
tests/integration/test_readme.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlforge.quality.review_loop import (
    PullResult,
    ReviewLoopError,
    adjudicated,
    images_storage_path,
    next_source_folder,
    project_title,
    read_review_release,
    server_tasks,
)

PREDICTION = {"model_version": "round 1 (a1)", "result": [{"id": "r1_0", "type": "rectanglelabels", "value": {"x": 1}}]}


def _release(home: Path, source: str = "/data/exports/export.json", source_format: str = "label_studio", dataset: str = "demo") -> Path:
    folder = home / "releases" / dataset / "0123456789ab"
    (folder / "review").mkdir(parents=True)
    (folder / "images").mkdir()
    manifest = {
        "dataset": dataset,
        "version": "0123456789ab",
        "recipe": {"name": "demo"},
        "source": {"source": source, "source_format": source_format, "images_root": None},
    }
    (folder / "RELEASE.json").write_text(json.dumps(manifest))
    task = {
        "data": {"image": "/data/local-files/?d=images/ab%20c.png", "vlforge_item_id": "item-7", "task_type": "grounding"},
        "predictions": [PREDICTION],
        "meta": {"below_threshold": {"iou_agreement": {"value": 0.4, "threshold": 0.85}}},
    }
    (folder / "review" / "review_tasks.json").write_text(json.dumps([task]))
    (folder / "review" / "label_config.xml").write_text("<View/>")
    return folder


def test_task_images_are_addressed_under_the_document_root(tmp_path: Path) -> None:
    release = read_review_release(_release(tmp_path))

    (task,) = server_tasks(release, tmp_path)

    assert task["data"] == {
        "image": "/data/local-files/?d=releases/demo/0123456789ab/images/ab%20c.png",
        "vlforge_item_id": "item-7",
        "task_type": "grounding",
    }
    assert task["predictions"] == [PREDICTION] and task["meta"] == release.tasks[0]["meta"]
    assert images_storage_path(release, tmp_path) == tmp_path / "releases" / "demo" / "0123456789ab" / "images"


@pytest.mark.parametrize("root", ["elsewhere", "releases/demo/0123456789ab/images"])
def test_a_document_root_that_cannot_serve_the_images_is_refused(tmp_path: Path, root: str) -> None:
    release = read_review_release(_release(tmp_path))
    (tmp_path / root).mkdir(parents=True, exist_ok=True)

    with pytest.raises(ReviewLoopError, match=f"images folder {release.folder / 'images'} is not inside Label Studio's document root {tmp_path / root}"):
        server_tasks(release, tmp_path / root)


def _annotation(number: int, updated_at: str, **fields: object) -> dict[str, object]:
    return {"id": number, "updated_at": updated_at, "ground_truth": False, "was_cancelled": False, "result": []} | fields


@pytest.mark.parametrize(
    ("annotations", "chosen"),
    [
        # Submitted in the UI: no ground truth anywhere, the last one saved is the reviewer's word.
        ([_annotation(1, "2026-12-01T10:00:00Z"), _annotation(2, "2026-12-01T11:00:00Z")], 2),
        # Marked ground truth: that one, even if another was saved later.
        ([_annotation(1, "2026-12-01T10:00:00Z", ground_truth=True), _annotation(2, "2026-12-01T11:00:00Z")], 1),
        # A skipped (cancelled) annotation never counts.
        ([_annotation(1, "2026-12-01T10:00:00Z"), _annotation(2, "2026-12-01T11:00:00Z", was_cancelled=True)], 1),
        ([_annotation(1, "2026-12-01T10:00:00Z", was_cancelled=True)], None),
        ([], None),
    ],
)
def test_the_reviewers_annotation_becomes_the_only_one_marked_ground_truth(annotations: list, chosen: int | None) -> None:
    task = {"id": 3, "data": {"image": "x", "vlforge_item_id": "item-7"}, "annotations": annotations}

    kept = adjudicated([task])

    if chosen is None:
        assert kept == []
        return
    (result,) = kept
    (annotation,) = result["annotations"]
    assert (annotation["id"], annotation["ground_truth"]) == (chosen, True)
    assert result["data"] == task["data"]
    assert task["annotations"][0]["ground_truth"] is annotations[0]["ground_truth"]  # the input is not changed


def test_tasks_that_are_not_vlforge_review_tasks_are_left_out() -> None:
    foreign = {"id": 4, "data": {"image": "x"}, "annotations": [_annotation(1, "2026-12-01T10:00:00Z")]}
    assert adjudicated([foreign]) == []


def test_the_next_run_reads_the_release_sources_folder(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    from_file = read_review_release(_release(tmp_path / "a", source=str(exports / "export.json")))
    from_folder = read_review_release(_release(tmp_path / "b", source=str(exports)))
    assert next_source_folder(from_file) == exports
    assert next_source_folder(from_folder) == exports
    with pytest.raises(ReviewLoopError, match="is not a local folder: pass --into"):
        next_source_folder(read_review_release(_release(tmp_path / "c", source="s3://bucket/export.json")))
    with pytest.raises(ReviewLoopError, match="was made from 'coco', not Label Studio exports"):
        next_source_folder(read_review_release(_release(tmp_path / "d", source_format="coco")))


def test_the_release_remembers_its_recipe_for_the_next_run(tmp_path: Path) -> None:
    assert read_review_release(_release(tmp_path)).recipe == "demo"


def test_project_titles_fit_label_studios_limit_and_keep_the_version(tmp_path: Path) -> None:
    assert project_title(read_review_release(_release(tmp_path / "a"))) == "vlforge 0123456789ab demo"
    long = project_title(read_review_release(_release(tmp_path / "b", dataset="x" * 60)))
    assert long == "vlforge 0123456789ab " + "x" * 29 and len(long) == 50


def test_a_folder_without_a_release_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReviewLoopError, match=f"{tmp_path} is not a release folder \\(no RELEASE.json, review/review_tasks.json, review/label_config.xml\\)"):
        read_review_release(tmp_path)


def test_pull_summary_says_what_it_resolved_and_the_next_run() -> None:
    result = PullResult(
        resolved=["item-7"],
        pending=["item-9"],
        export=Path("/data/exports/review-demo-0123456789ab.json"),
        next_run={"source": "/data/exports", "source_format": "label_studio", "dataset": "demo", "recipe": "demo", "images_root": ["/data"]},
        next_run_reads=["export.json", "review-demo-0123456789ab.json"],
    )
    assert result.summary().splitlines() == [
        "resolved 1 item(s), the reviewer's annotation as the gold round: item-7",
        "still to review: item-9",
        "wrote /data/exports/review-demo-0123456789ab.json",
        "the next run reads every export in /data/exports: export.json, review-demo-0123456789ab.json",
        'next run: make run CONF=\'{"source": "/data/exports", "source_format": "label_studio", "dataset": "demo", "recipe": "demo", "images_root": ["/data"]}\'',
    ]
