"""Label Studio exports written by Label Studio itself (label-studio-converter, label-studio-sdk, ml-backend fixtures).

Every expected pixel value is the export's percent number times the image size,
written out as the arithmetic.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageChops, ImageStat

from vlforge.records import make_item_id

CONVERTER = "label_studio_converter/tests/data/test_export_yolo"
DOCLANG = "label_studio_sdk/tests/custom/converter/data/test_export_doclang/data.json"
TESSERACT = "label_studio_ml_backend_tesseract"


def test_two_annotators_of_one_task_are_two_rounds_with_pixel_boxes(fixtures_dir, tmp_path, ingest, stand_in, xyxy):
    # The export's images are "/image1" and "/image2" on a 2800x2800 canvas; neither is shipped.
    stand_in(tmp_path / "images" / "image1", 2800, 2800)
    stand_in(tmp_path / "images" / "image2", 2800, 2800, color=(20, 20, 200))

    run = ingest(fixtures_dir / CONVERTER / "data.json", "label_studio", images_root=tmp_path / "images")

    assert run.stats["rows_in"] == 3 and run.stats["rows_quarantined"] == 0
    first, second, other = run.samples
    assert [s.source.record_id for s in run.samples] == ["task 1/annotation 1", "task 1/annotation 2", "task 2/annotation 3"]
    assert {s.source.file for s in run.samples} == {"data.json"}
    assert [s.task_type for s in run.samples] == ["grounding", "grounding", "grounding"]
    assert (first.round, first.annotator, second.round, second.annotator) == (1, "2", 2, "1")
    assert first.item_id == second.item_id != other.item_id
    assert (other.round, other.annotator) == (1, "1")
    assert not any(s.gold for s in run.samples)
    assert first.images == second.images
    assert (first.images[0].width, first.images[0].height) == (2800, 2800)

    # Annotator 2: the label both agree on ("parasites") and one "white" cell the other did not mark.
    parasites, white = first.boxes
    x1 = 37.15846994535519 / 100 * 2800
    y1 = 70.67395264116576 / 100 * 2800
    assert xyxy(parasites) == pytest.approx(
        (x1, y1, x1 + 4.189435336976321 / 100 * 2800, y1 + 4.735883424408015 / 100 * 2800), abs=1e-9
    )
    assert parasites.label == "parasites"
    x1 = 57.79102500413977 / 100 * 2800
    y1 = 62.87464812054977 / 100 * 2800
    assert xyxy(white) == pytest.approx((x1, y1, x1 + 3.808577579069383 / 100 * 2800, y1 + 4.636529226693169 / 100 * 2800), abs=1e-9)
    assert white.label == "white"

    # Annotator 1.
    parasites, white = second.boxes
    x1 = 37.88706739526412 / 100 * 2800
    y1 = 71.76684881602914 / 100 * 2800
    assert xyxy(parasites) == pytest.approx(
        (x1, y1, x1 + 3.8251366120218573 / 100 * 2800, y1 + 4.553734061930784 / 100 * 2800), abs=1e-9
    )
    x1 = 49.18032786885246 / 100 * 2800
    y1 = 23.13296903460838 / 100 * 2800
    assert xyxy(white) == pytest.approx((x1, y1, x1 + 5.2823315118397085 / 100 * 2800, y1 + 4.007285974499089 / 100 * 2800), abs=1e-9)
    assert [b.label for b in second.boxes] == ["parasites", "white"]

    # Task 2, one annotator, on the other image.
    assert other.images[0].sha256 != first.images[0].sha256
    x1 = 19.672131147540984 / 100 * 2800
    y1 = 49.72677595628415 / 100 * 2800
    assert xyxy(other.boxes[0]) == pytest.approx(
        (x1, y1, x1 + 3.278688524590164 / 100 * 2800, y1 + 2.914389799635701 / 100 * 2800), abs=1e-9
    )
    x1 = 61.74863387978142 / 100 * 2800
    y1 = 37.15846994535519 / 100 * 2800
    assert xyxy(other.boxes[1]) == pytest.approx(
        (x1, y1, x1 + 2.5500910746812386 / 100 * 2800, y1 + 4.371584699453552 / 100 * 2800), abs=1e-9
    )
    assert [b.label for b in other.boxes] == ["white", "white"]


def test_rotated_boxes_are_quarantined_with_the_rotation(fixtures_dir, tmp_path, ingest, stand_in):
    # Sizes from the export's original_width/original_height.
    for name, width in [("image1", 597), ("image2", 433), ("image3", 716)]:
        stand_in(tmp_path / name, width, 768)

    run = ingest(fixtures_dir / CONVERTER / "data_obb.json", "label_studio", images_root=tmp_path)

    assert (run.stats["rows_in"], run.stats["rows_ok"], run.stats["rows_quarantined"]) == (3, 0, 3)
    reason = "rotated rectangle cannot be stored as an axis-aligned box"
    assert run.quarantine == [
        {"source_file": "data_obb.json", "record_id": "task 10959/annotation 1552", "reason": reason,
         "field": "result[0].value.rotation", "value": "328.33240366032834"},
        {"source_file": "data_obb.json", "record_id": "task 10960/annotation 1554", "reason": reason,
         "field": "result[0].value.rotation", "value": "345.1381651311527"},
        {"source_file": "data_obb.json", "record_id": "task 10961/annotation 1555", "reason": reason,
         "field": "result[0].value.rotation", "value": "348.08878456803336"},
    ]  # fmt: skip


def test_polygons_are_quarantined_as_an_unsupported_label_format(fixtures_dir, tmp_path, ingest, stand_in):
    stand_in(tmp_path / "image2", 640, 426)

    run = ingest(fixtures_dir / CONVERTER / "data_polygons.json", "label_studio", images_root=tmp_path)

    assert run.samples == []
    assert run.quarantine == [
        {
            "source_file": "data_polygons.json",
            "record_id": "task 68501/annotation 211797",
            "reason": "result type 'polygonlabels' (from_name 'label') is not a supported label format; "
            "supported: rectanglelabels, textarea, choices",
            "field": "result[0].type",
            "value": "polygonlabels",
        }
    ]


def test_document_regions_with_transcription_and_a_cancelled_annotation(fixtures_dir, tmp_path, ingest, stand_in, xyxy):
    # "https://example.com/pages/page-1.png" is looked up as pages/page-1.png under images_root before any download.
    stand_in(tmp_path / "pages" / "page-1.png", 1240, 1754)
    stand_in(tmp_path / "pages" / "page-2.png", 1000, 1400)

    run = ingest(fixtures_dir / DOCLANG, "label_studio", images_root=tmp_path)

    assert (run.stats["rows_in"], run.stats["rows_ok"], run.stats["rows_quarantined"]) == (3, 2, 1)
    page1 = run.sample("task 1/annotation 11")
    assert page1.task_type == "grounding"
    assert (page1.images[0].width, page1.images[0].height) == (1240, 1754)
    (header,) = page1.boxes
    assert xyxy(header) == pytest.approx((5.0 / 100 * 1240, 10.0 / 100 * 1754, (5.0 + 40.0) / 100 * 1240, (10.0 + 15.0) / 100 * 1754))
    assert header.label == "Section-header"
    # The region-less textarea is the transcription of the whole page.
    assert [(turn.role, turn.content) for turn in page1.conversations] == [
        ("user", "<image>\nDescribe this image."),
        ("assistant", "<doclang><section>Intro</section><page_break/><section>Body</section></doclang>"),
    ]
    assert page1.ocr_lines == () and page1.annotator == "" and page1.round == 1

    page2 = run.sample("task 2/annotation 22")
    assert (page2.task_type, page2.conversations) == ("grounding", ())
    (text,) = page2.boxes
    assert xyxy(text) == pytest.approx((1 / 100 * 1000, 2 / 100 * 1400, (1 + 3) / 100 * 1000, (2 + 4) / 100 * 1400))
    assert text.label == "Text"

    # The only annotation of task 3 was cancelled: no sample, and the task is accounted for in the quarantine.
    assert all(not sample.source.record_id.startswith("task 3") for sample in run.samples)
    assert run.quarantine == [
        {"source_file": "data.json", "record_id": "task 3", "reason": "every annotation was cancelled", "field": "annotations", "value": "1"}
    ]


def _ocr_expected() -> list[tuple[str, str, tuple[float, float, float, float]]]:
    """The three OCR regions of ocr_ls_export_DERIVED.json on the 1080x1349 poster, in pixels."""
    w, h = 1080, 1349
    return [
        ("KENAPA", "Label1", (2.5893958076448826 / 100 * w, 15.59725018943566 / 100 * h,
                              (2.5893958076448826 + 44.38964241676942) / 100 * w, (15.59725018943566 + 12.438313442208186) / 100 * h)),
        ("HARUS", "Label1", (3.082614056720099 / 100 * w, 30.997066832169608 / 100 * h,
                             (3.082614056720099 + 37.237977805178794) / 100 * w, (30.997066832169608 + 11.747296028752174) / 100 * h)),
        ("PUNYA", "Label2", (2.7127003699136867 / 100 * w, 45.113565421342386 / 100 * h,
                             (2.7127003699136867 + 37.60789149198521) / 100 * w, (45.113565421342386 + 12.142163122155608) / 100 * h)),
    ]  # fmt: skip


def test_ocr_export_against_the_real_poster(fixtures_dir, ingest, xyxy):
    run = ingest(fixtures_dir / TESSERACT / "ocr_ls_export_DERIVED.json", "label_studio")

    assert (run.stats["rows_in"], run.stats["rows_quarantined"]) == (1, 0)
    (sample,) = run.samples
    assert sample.source.file == "ocr_ls_export_DERIVED.json"
    assert sample.source.record_id == "task 311/annotation 1"
    assert (sample.task_type, sample.annotator, sample.round) == ("ocr", "1", 1)
    assert (sample.images[0].width, sample.images[0].height, sample.images[0].format) == (1080, 1349, "jpg")
    # The rectangle and the transcription share a region id: one OCR line each, no separate box.
    assert sample.boxes == ()
    assert len(sample.ocr_lines) == 3
    for line, (text, label, corners) in zip(sample.ocr_lines, _ocr_expected(), strict=True):
        assert (line.text, line.box.label, line.language) == (text, label, "en")
        assert xyxy(line.box) == pytest.approx(corners, abs=1e-9)


def test_exif_orientation_is_applied_before_coordinates(fixtures_dir, tmp_path, ingest, write_json, xyxy):
    export = json.loads((fixtures_dir / TESSERACT / "ocr_ls_export_DERIVED.json").read_text(encoding="utf-8"))
    export[0]["data"]["image"] = "test_images/image_has_exif_orientation.jpeg"
    rotated_export = write_json(tmp_path / "exif" / "ocr_exif.json", export)
    raw = Image.open(fixtures_dir / TESSERACT / "test_images" / "image_has_exif_orientation.jpeg")
    assert (raw.size, raw.getexif().get(0x0112)) == ((1349, 1080), 6)  # stored sideways, displayed upright

    upright = ingest(fixtures_dir / TESSERACT / "ocr_ls_export_DERIVED.json", "label_studio").samples[0]
    rotated_run = ingest(rotated_export, "label_studio", images_root=fixtures_dir / TESSERACT)

    assert rotated_run.quarantine == []
    (rotated,) = rotated_run.samples
    assert (rotated.images[0].width, rotated.images[0].height) == (upright.images[0].width, upright.images[0].height) == (1080, 1349)
    assert [xyxy(line.box) for line in rotated.ocr_lines] == [xyxy(line.box) for line in upright.ocr_lines]
    for line, (_, _, corners) in zip(rotated.ocr_lines, _ocr_expected(), strict=True):
        assert xyxy(line.box) == pytest.approx(corners, abs=1e-9)

    # The stored file is upright, without an orientation tag, and shows the same picture as the upright original
    # (turned the wrong way, the mean difference would be tens of grey levels).
    stored_dir = rotated_run.store_dir
    stored = Image.open(stored_dir / rotated.images[0].sha256[:2] / rotated.images[0].file_name)
    assert stored.size == (1080, 1349) and stored.getexif().get(0x0112) in (None, 1)
    original = Image.open(fixtures_dir / TESSERACT / "test_images" / "image.jpeg")
    small = (108, 135)
    difference = ImageChops.difference(stored.convert("L").resize(small), original.convert("L").resize(small))
    assert ImageStat.Stat(difference).mean[0] < 2.0


def test_annotation_made_on_the_sideways_pixels_is_quarantined(fixtures_dir, tmp_path, ingest, write_json):
    """An export whose size is the raw (not EXIF-turned) 1349x1080 does not match the displayed image."""
    export = json.loads((fixtures_dir / TESSERACT / "ocr_ls_export_DERIVED.json").read_text(encoding="utf-8"))
    export[0]["data"]["image"] = "test_images/image_has_exif_orientation.jpeg"
    for result in export[0]["annotations"][0]["result"]:
        result["original_width"], result["original_height"] = 1349, 1080
    sideways = write_json(tmp_path / "sideways.json", export)

    run = ingest(sideways, "label_studio", images_root=fixtures_dir / TESSERACT)

    assert run.quarantine == [
        {
            "source_file": "sideways.json",
            "record_id": "task 311/annotation 1",
            "reason": "annotation was made on a 1349x1080 image but the image is 1080x1349",
            "field": "result[0].original_width",
            "value": "[1349, 1080]",
        }
    ]


def test_export_with_reviewer_metadata_and_a_box_past_the_edge(fixtures_dir, tmp_path, ingest, stand_in, xyxy):
    """label-studio-converter's CSV test export: annotator objects, text/audio data keys, one box 3 px past the edge."""
    # The image URLs are looked up under images_root by their path (open-images/train_0/mini/<name>.jpg).
    mini = tmp_path / "open-images" / "train_0" / "mini"
    stand_in(mini / "0030019819f25b28.jpg", 768, 576)
    stand_in(mini / "00155094b7acc33b.jpg", 768, 510)

    run = ingest(fixtures_dir / "label_studio_converter/tests/data/test_export_csv/csv_test.json", "label_studio", images_root=tmp_path)

    (car,) = run.samples
    assert (car.source.file, car.source.record_id, car.task_type) == ("csv_test.json", "task 1/annotation 7", "grounding")
    assert (car.annotator, car.round, car.images[0].width, car.images[0].height) == ("hakan@heartex.com", 1, 768, 576)
    x1 = 4.857412088705009 / 100 * 768
    y1 = 11.690682128240109 / 100 * 576
    assert xyxy(car.boxes[0]) == pytest.approx((x1, y1, x1 + 92.51 / 100 * 768, y1 + 71.76 / 100 * 576), abs=1e-9)
    assert car.boxes[0].label == "Car"
    # Task 2's first box: x 92.93% + 7.5% of 768 px ends at 771.30 px, y 57.39% + 44.18% of 510 px at 518.01 px.
    (entry,) = run.quarantine
    assert (entry["source_file"], entry["record_id"], entry["field"]) == ("csv_test.json", "task 2/annotation 8", "boxes[0]")
    assert entry["reason"] == "box [713.70, 292.69, 771.30, 518.01] ('Car') lies outside the 768x510 image"


def test_rectangle_polygon_and_keypoints_in_one_annotation_are_quarantined(fixtures_dir, tmp_path, ingest, stand_in):
    """label-studio-sdk's COCO export test: the polygon and keypoints cannot be stored, so the annotation is not split."""
    stand_in(tmp_path / "test_image1.jpg", 500, 320)

    run = ingest(fixtures_dir / "label_studio_sdk/tests/custom/converter/data/test_export_coco/data.json", "label_studio", images_root=tmp_path)

    assert run.samples == []
    assert run.quarantine == [
        {
            "source_file": "data.json",
            "record_id": "task 175210175/annotation 60205850",
            "reason": "result type 'polygonlabels' (from_name 'polygon_label') is not a supported label format; "
            "supported: rectanglelabels, textarea, choices",
            "field": "result[1].type",
            "value": "polygonlabels",
        }
    ]


def test_item_ids_come_from_the_project_and_task_not_the_file_name(fixtures_dir, tmp_path, ingest, stand_in):
    """The converter's export (project 1): renaming the file keeps every item's id, so a review cannot duplicate it."""
    stand_in(tmp_path / "images" / "image1", 2800, 2800)
    stand_in(tmp_path / "images" / "image2", 2800, 2800)
    export = fixtures_dir / CONVERTER / "data.json"
    renamed = tmp_path / "exports" / "project-1-at-2026-12-01.json"
    renamed.parent.mkdir()
    renamed.write_bytes(export.read_bytes())

    original, copy = (ingest(path, "label_studio", images_root=tmp_path / "images") for path in (export, renamed))

    assert [sample.item_id for sample in original.samples] == [sample.item_id for sample in copy.samples]
    by_task = {sample.source.record_id.split("/")[0]: sample.item_id for sample in original.samples}
    assert by_task == {"task 1": make_item_id("label-studio project 1", 1), "task 2": make_item_id("label-studio project 1", 2)}
    # Sample ids still say which file a round was read from.
    assert {sample.sample_id for sample in original.samples}.isdisjoint(sample.sample_id for sample in copy.samples)


def test_item_id_travels_in_the_task_data_else_falls_back_to_the_file(tmp_path, ingest, stand_in, write_json):
    stand_in(tmp_path / "photo.png", 40, 20)
    text = {"id": "c", "from_name": "caption", "to_name": "image", "type": "textarea", "value": {"text": ["A red square."]}}
    review_task = {"id": 5, "project": 9, "data": {"image": "photo.png", "vlforge_item_id": "item-7"}, "annotations": [{"id": 1, "result": [text]}]}
    # Hand-made exports may lack the project: the task id alone is not unique across projects, so the file name joins it.
    bare_task = {"id": 5, "data": {"image": "photo.png"}, "annotations": [{"id": 1, "result": [text]}]}
    annotation_project = {"id": 5, "data": {"image": "photo.png"}, "annotations": [{"id": 1, "project": 9, "result": [text]}]}

    ids = [
        ingest(write_json(tmp_path / name, [task]), "label_studio").samples[0].item_id
        for name, task in (("a.json", review_task), ("b.json", bare_task), ("c.json", annotation_project))
    ]
    assert ids == ["item-7", make_item_id("b.json", 5), make_item_id("label-studio project 9", 5)]
