"""Review tasks have the shape Label Studio itself writes: checked against real exports and the label config."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from vlforge.layout import LABEL_CONFIG_NAME, REVIEW_TASKS_NAME
from vlforge.quality.agreement import ReviewItem
from vlforge.quality.review import write_review
from vlforge.records import Box, ImageRef, Metrics, OcrLine, Sample, Source, Turn

IMAGE = ImageRef(sha256="b" * 64, width=640, height=480, format="png")
CONVERTER = "label_studio_converter/tests/data"
# Real Label Studio exports: one with model predictions, ones with boxes, one with per-region transcriptions.
PREDICTIONS_EXPORT = f"{CONVERTER}/test_export_csv/csv_test.json"
REGION_EXPORTS = (f"{CONVERTER}/test_export_yolo/data.json", "label_studio_ml_backend_tesseract/ocr_ls_export_DERIVED.json")
TAGS = {"rectanglelabels": "RectangleLabels", "textarea": "TextArea"}


def _round(round_: int, dx: float) -> Sample:
    return Sample(
        sample_id=f"s{round_}",
        item_id="item-1",
        round=round_,
        annotator=f"annotator{round_}@example.com",
        task_type="ocr",
        images=(IMAGE,),
        boxes=(Box(x1=10 + dx, y1=20, x2=110 + dx, y2=90, label="sign"),),
        ocr_lines=(OcrLine(text="NO PARKING", box=Box(x1=20 + dx, y1=30, x2=100 + dx, y2=50)),),
        conversations=(Turn(role="user", content="<image>\nRead the sign."), Turn(role="assistant", content="NO PARKING")),
        source=Source(file="export.json", record_id=f"task 1/annotation {round_}"),
    )


def _fixture_results(fixtures_dir: Path) -> dict[str, list[dict]]:
    by_type: dict[str, list[dict]] = {}
    for name in REGION_EXPORTS:
        for task in json.loads((fixtures_dir / name).read_text()):
            for annotation in task["annotations"]:
                for result in annotation["result"]:
                    by_type.setdefault(result["type"], []).append(result)
    return by_type


def test_review_tasks_match_label_studio_exports_and_config(fixtures_dir: Path, tmp_path: Path) -> None:
    item = ReviewItem(item_id="item-1", rounds=[_round(1, 0), _round(2, 40)], metrics=Metrics(iou_agreement=0.4), below={"iou_agreement": (0.4, 0.85)})
    assert write_review([item], tmp_path) == 1
    (task,) = json.loads((tmp_path / REVIEW_TASKS_NAME).read_text())

    real_task = json.loads((fixtures_dir / PREDICTIONS_EXPORT).read_text())[0]
    real_prediction = real_task["predictions"][0]
    assert set(task) <= set(real_task) and set(task["data"]) >= {"image"}
    real_results = _fixture_results(fixtures_dir)
    for prediction in task["predictions"]:
        assert set(prediction) <= set(real_prediction) and {"model_version", "result"} <= set(prediction)
        for result in prediction["result"]:
            same_type = real_results[result["type"]]
            assert {"id", "type", "from_name", "to_name", "value"} <= set(result)
            assert set(result) <= set().union(*(set(real) for real in same_type))
            assert set(result["value"]) <= set().union(*(set(real["value"]) for real in same_type))
            if "x" in result["value"]:
                assert 0 <= result["value"]["x"] <= 100 and 0 < result["value"]["width"] <= 100

    # Every result names a control of the label config that is of the result's type and points at the image.
    config = ElementTree.fromstring((tmp_path / LABEL_CONFIG_NAME).read_text())
    controls = {element.get("name"): element for element in config.iter() if element.get("toName")}
    image_names = {element.get("name") for element in config.iter("Image")}
    for prediction in task["predictions"]:
        for result in prediction["result"]:
            control = controls[result["from_name"]]
            assert control.tag == TAGS[result["type"]] and control.get("toName") == result["to_name"] and result["to_name"] in image_names
            for label in result["value"].get("rectanglelabels", []):
                assert label in {child.get("value") for child in control}
    # A per-region transcription shares its rectangle's id, as Label Studio's OCR template does.
    first_round = task["predictions"][0]["result"]
    transcriptions = [result for result in first_round if result["from_name"] == "transcription"]
    assert [result["value"]["text"] for result in transcriptions] == [["NO PARKING"]]
    assert transcriptions[0]["id"] in {result["id"] for result in first_round if result["type"] == "rectanglelabels"}
    assert task["meta"]["below_threshold"] == {"iou_agreement": {"value": 0.4, "threshold": 0.85}}
