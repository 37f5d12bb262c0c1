"""The ingest gate: GX suites over the manifest's tables pass on clean data and name every failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlforge.config import Recipe
from vlforge.gates import GateFailed, run_gate, suite_columns
from vlforge.ingest import IngestResult
from vlforge.ingest.gate import ingest_suites, ingest_tables
from vlforge.layout import RunDir
from vlforge.records import Box, ImageRef, OcrLine, Sample, Source
from vlforge.store import ImageStore


def _image(store: ImageStore, payload: bytes = b"jpeg bytes") -> ImageRef:
    digest = store.put(payload, "jpg")
    return ImageRef(sha256=digest, width=100, height=50, format="jpg")


def _sample(sample_id: str, image: ImageRef, **fields: object) -> Sample:
    defaults: dict[str, object] = {"task_type": "grounding", "boxes": (Box(x1=10, y1=5, x2=90, y2=45, label="cup"),)}
    return Sample(sample_id=sample_id, images=(image,), source=Source(file="f.json", record_id=sample_id), **(defaults | fields))


def _gate(samples: list[Sample], store: ImageStore, recipe: Recipe, folder: Path, rejected: int = 0):
    result = IngestResult(samples=samples)
    tables = ingest_tables(samples, result.stats(), store)
    rows_in = len(samples) + rejected
    tables["ingest_stats"].loc[0, ["rows_in", "rows_quarantined", "quarantine_share"]] = [rows_in, rejected, rejected / rows_in]
    return run_gate("ingest", tables, ingest_suites(recipe), RunDir(folder))


def test_clean_samples_pass_and_build_data_docs(store: ImageStore, recipe: Recipe, tmp_path: Path) -> None:
    image = _image(store)
    samples = [_sample("a", image), _sample("b", image, task_type="ocr", boxes=(), ocr_lines=(OcrLine(text="OPEN"),))]
    result = _gate(samples, store, recipe, tmp_path)
    assert result.passed and result.failed == []
    assert result.evaluated == 11
    assert (RunDir(tmp_path).data_docs / "index.html").is_file()
    summary = json.loads((tmp_path / "gates" / "ingest.json").read_text())
    assert summary["passed"] is True and summary["evaluated"] == 11


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"boxes": (Box(x1=10, y1=5, x2=120, y2=45),)}, "expect_box_right_edge_inside_image"),
        ({"boxes": (Box(x1=10, y1=5, x2=90, y2=60),)}, "expect_box_bottom_edge_inside_image"),
        ({"boxes": (Box(x1=-3, y1=5, x2=90, y2=45),)}, "expect_box_left_top_inside_image"),
        ({"boxes": (Box(x1=50, y1=5, x2=50, y2=45),)}, "expect_positive_box_width"),
        ({"boxes": (Box(x1=10, y1=30, x2=90, y2=20),)}, "expect_positive_box_height"),
        ({"task_type": "ocr", "boxes": (), "ocr_lines": (OcrLine(text="   "),)}, "expect_non_empty_ocr_text"),
    ],
)
def test_each_broken_rule_fails_the_gate_by_name(
    change: dict[str, object], expected: str, store: ImageStore, recipe: Recipe, tmp_path: Path
) -> None:
    image = _image(store)
    with pytest.raises(GateFailed) as failure:
        _gate([_sample("good", image), _sample("bad", image, **change)], store, recipe, tmp_path)
    assert failure.value.result.failed == [expected]
    message = str(failure.value)
    assert expected in message and "1 unexpected rows" in message
    assert f"full result: {tmp_path / 'gx_results' / 'ingest.json'}" in message


def test_duplicate_ids_missing_images_and_unknown_task_types_fail(store: ImageStore, recipe: Recipe, tmp_path: Path) -> None:
    image = _image(store)
    missing = ImageRef(sha256="f" * 64, width=100, height=50, format="jpg")
    unknown_type = _sample("c", image).model_copy(update={"task_type": "segmentation"})
    with pytest.raises(GateFailed) as failure:
        _gate([_sample("a", image), _sample("a", image), _sample("b", missing), unknown_type], store, recipe, tmp_path)
    assert failure.value.result.failed == ["expect_image_in_store", "expect_known_task_types", "expect_unique_sample_ids"]
    columns = {item["expectation"]: item["column"] for item in failure.value.result.failures}
    assert columns["expect_image_in_store"] == "images.stored_bytes"
    assert columns["expect_unique_sample_ids"] == "samples.sample_id"


def test_quarantined_share_above_the_recipe_limit_fails(store: ImageStore, recipe: Recipe, tmp_path: Path) -> None:
    image = _image(store)
    assert recipe.ingest.max_quarantine_share == 0.2
    _gate([_sample("a", image), _sample("b", image), _sample("c", image), _sample("d", image)], store, recipe, tmp_path / "ok", rejected=1)
    with pytest.raises(GateFailed) as failure:
        _gate([_sample("a", image), _sample("b", image)], store, recipe, tmp_path / "bad", rejected=1)
    assert failure.value.result.failed == ["expect_quarantine_share_at_most"]
    assert "ingest_stats.quarantine_share" in str(failure.value)


def test_a_missing_column_fails_rather_than_passing(store: ImageStore, recipe: Recipe, tmp_path: Path) -> None:
    image = _image(store)
    samples = [_sample("a", image)]
    tables = ingest_tables(samples, IngestResult(samples=samples).stats(), store)
    tables["boxes"] = tables["boxes"].drop(columns=["image_width"])
    with pytest.raises(GateFailed) as failure:
        run_gate("ingest", tables, ingest_suites(recipe), RunDir(tmp_path))
    assert "could not run" in str(failure.value) and "image_width" in str(failure.value)


def _without_run_details(results: dict[str, Any]) -> dict[str, Any]:
    """A gate's full results without what differs between two validations of the same values (ids, times, the frame's hash)."""
    for result in results.values():
        result.pop("meta")
        for item in result["results"]:
            item["expectation_config"].pop("id")
    return results


def test_tables_cut_to_the_columns_their_suites_read_give_the_same_results(
    store: ImageStore, recipe: Recipe, tmp_path: Path
) -> None:
    image = _image(store)
    missing = ImageRef(sha256="f" * 64, width=100, height=50, format="jpg")
    samples = [
        _sample("a", image),
        _sample("a", image, boxes=(Box(x1=-3, y1=5, x2=120, y2=45),)),
        _sample("b", missing, task_type="ocr", boxes=(), ocr_lines=(OcrLine(text=" "), OcrLine(text="EXIT"))),
    ]
    suites = ingest_suites(recipe)
    columns = {name: suite_columns(suite) for name, suite in suites.items()}
    assert columns["boxes"] == ["x1", "y1", "image_width", "x2", "image_height", "y2"] and columns["images"] == ["stored_bytes"]
    results = {}
    for kept in (None, columns):
        tables = ingest_tables(samples, IngestResult(samples=samples).stats(), store, kept)
        assert kept is None or all(list(tables[name].columns) == kept[name] for name in kept)
        folder = tmp_path / ("cut" if kept else "whole")
        with pytest.raises(GateFailed) as failure:
            run_gate("ingest", tables, suites, RunDir(folder))
        results[folder.name] = (failure.value.result.failures, json.loads((folder / "gx_results" / "ingest.json").read_text()))
    assert len(results["cut"][0]) == 5
    assert results["cut"][0] == results["whole"][0]
    assert _without_run_details(results["cut"][1]) == _without_run_details(results["whole"][1])
