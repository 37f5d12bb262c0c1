"""Reading a release folder for the dashboard: gate results rendered from GX's JSON, damage as messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlforge.views.pages import pager
from vlforge.views.release_folder import FolderDamage, ReleaseFolder, reason_group, sample_kind

GX_RESULT = {
    "agreement_ocr": {
        "results": [
            {
                "success": False,
                "expectation_config": {
                    "type": "expect_ocr_accuracy_at_least",
                    "kwargs": {"column": "ocr_accuracy", "min_value": 0.95},
                    "description": "Mean ocr_accuracy of ocr items is at least 0.95.",
                },
                "result": {"observed_value": 0.9},
                "exception_info": {"raised_exception": False},
            },
            {
                "success": True,
                "expectation_config": {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x1", "min_value": 0, "mostly": 0.99}},
                "result": {"unexpected_count": 1, "element_count": 200},
                "exception_info": {"raised_exception": False},
            },
            {
                "success": False,
                "expectation_config": {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing"}},
                "result": {},
                "exception_info": {"raised_exception": True, "exception_message": "column 'missing' not found"},
            },
        ]
    }
}


def _folder(tmp_path: Path, gates: list[dict[str, object]], with_results: bool = True) -> ReleaseFolder:
    (tmp_path / "RELEASE.json").write_text(json.dumps({"dataset": "d", "version": "v", "gates": gates}))
    if with_results:
        (tmp_path / "gx_results").mkdir()
        (tmp_path / "gx_results" / "quality.json").write_text(json.dumps(GX_RESULT))
    return ReleaseFolder(tmp_path)


def test_every_expectation_shows_observed_value_and_threshold(tmp_path: Path) -> None:
    (gate,) = _folder(tmp_path, [{"name": "quality", "passed": False, "evaluated": 3, "failed": ["x"]}]).gates()
    assert (gate.name, gate.passed, gate.evaluated, gate.message) == ("quality", False, 3, "")
    rows = [(e.type, e.column, e.observed, e.threshold, e.passed, e.problem) for e in gate.expectations]
    assert rows == [
        ("expect_ocr_accuracy_at_least", "ocr_accuracy", "0.9000", "≥ 0.9500", False, ""),
        ("expect_column_values_to_be_between", "x1", "1 unexpected of 200", "≥ 0, for 0.9900 of rows", True, ""),
        ("expect_column_values_to_not_be_null", "missing", "-", "-", False, "column 'missing' not found"),
    ]


def test_without_the_full_results_the_summary_failures_show_with_a_message(tmp_path: Path) -> None:
    failure = {"table": "t", "expectation": "expect_x", "column": "t.c", "description": "d", "problem": "observed 0.5, threshold 0.8"}
    (gate,) = _folder(tmp_path, [{"name": "quality", "passed": False, "evaluated": 4, "failures": [failure]}], with_results=False).gates()
    assert "gx_results/quality.json) are not in this release" in gate.message
    assert [(e.type, e.observed, e.passed) for e in gate.expectations] == [("expect_x", "observed 0.5, threshold 0.8", False)]


def test_damage_is_a_message_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(FolderDamage, match="the catalog row names no release folder"):
        ReleaseFolder(None).release()
    with pytest.raises(FolderDamage, match=f"release folder {tmp_path / 'gone'} is missing"):
        ReleaseFolder(tmp_path / "gone").index()
    (tmp_path / "RELEASE.json").write_text("[1, 2]")
    with pytest.raises(FolderDamage, match="holds list, not a release object"):
        ReleaseFolder(tmp_path).release()
    (tmp_path / "quarantine.jsonl").write_text('{"reason": "image file not found (looked at: a.png)"}\nnot json\n\n')
    entries = ReleaseFolder(tmp_path).quarantine()
    assert entries[0]["reason"] == "image file not found (looked at: a.png)"
    assert entries[1]["reason"] == "unreadable line" and entries[1]["message"].startswith("quarantine.jsonl line 2:")
    with pytest.raises(FolderDamage, match="no file '../x' in release folder"):
        ReleaseFolder(tmp_path).safe_file("../x")


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("image file not found (looked at: skimage/horse.png)", "image file not found"),
        ("box outside the image", "box outside the image"),
        ("(only particulars)", "(only particulars)"),
    ],
)
def test_quarantine_reasons_are_counted_without_their_particulars(reason: str, group: str) -> None:
    assert reason_group(reason) == group


def test_kinds_and_pages() -> None:
    assert [sample_kind(True, ["parent"]), sample_kind(False, ["parent", "rotate"]), sample_kind(False, ["downscale"])] == [
        "synthetic",
        "augmented",
        "real",
    ]
    assert [(p.page, p.pages, p.start) for p in (pager(3, 4, 9), pager(9, 4, 9), pager(0, 4, 0))] == [(3, 3, 8), (3, 3, 8), (1, 1, 0)]
    assert pager(3, 4, 9).slice(list(range(9))) == [8]


def test_the_first_gallery_page_read_a_batch_at_a_time_is_the_one_the_whole_index_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    import vlforge.manifest as manifest_module
    from vlforge.config import Recipe
    from vlforge.manifest import write_split_manifest
    from vlforge.records import Box, ImageRef, Metrics, Sample, Source, Turn
    from vlforge.views.pages import GALLERY_PAGE, GalleryFilters, first_gallery_page, gallery

    monkeypatch.setattr(manifest_module, "BATCH_ROWS", 7)  # the options and count come from several batches
    recipe = Recipe(name="default")
    (tmp_path / "RELEASE.json").write_text(json.dumps({"dataset": "d", "version": "v", "recipe": recipe.model_dump(mode="json")}))
    (tmp_path / "images").mkdir()
    samples = []
    for index in range(GALLERY_PAGE + 17):
        image = ImageRef(sha256=f"{index % 5:064x}", width=40, height=30, format="png")
        Image.new("RGB", (40, 30), (index * 9 % 256, 80, 120)).save(tmp_path / "images" / image.file_name)
        samples.append(
            Sample(
                sample_id=f"s{index:02d}",
                task_type=("grounding", "caption")[index % 2],
                images=(image,),
                conversations=(Turn(role="user", content="<image>What is it?"), Turn(role="assistant", content=f"thing {index}")),
                boxes=(Box(x1=2, y1=3, x2=20, y2=25, label="cup"),) if index % 2 == 0 else (),
                metrics=Metrics(iou_agreement=index / 50, rounds_compared=2),
                # past the first page and its batches, a source that is still one of the filter's options
                source=Source(file="late.json" if index == 38 else f"source_{index % 3}.json", record_id=str(index)),
            )
        )
    splits = [("train", "val", "test")[index % 3] for index in range(len(samples))]
    write_split_manifest(samples, splits, tmp_path / "manifest.parquet")

    streamed = first_gallery_page(ReleaseFolder(tmp_path))
    whole = gallery(ReleaseFolder(tmp_path), GalleryFilters())

    assert streamed == whole
    assert streamed["total"] == 41 and len(streamed["items"]) == GALLERY_PAGE
    assert streamed["options"]["source"] == ["late.json", "source_0.json", "source_1.json", "source_2.json"]
    assert any(item.failing for item in streamed["items"])
