"""One bad kind of record per test: it is quarantined with a reason a person understands, naming file and record.

Nothing here crashes the run, and the other records of the same file are still ingested.
"""

from __future__ import annotations

import io
import json

from PIL import Image

CONVERTER_POLYGONS = "label_studio_converter/tests/data/test_export_yolo/data_polygons.json"


def _conversation(*images: str) -> dict:
    tags = "".join("<image>" for _ in images)
    return {
        "messages": [{"role": "user", "content": f"{tags}What is this?"}, {"role": "assistant", "content": "A square."}],
        "images": list(images),
    }


def _ls_task(task_id: int, image: str, x: float, y: float, width: float, height: float) -> dict:
    rectangle = {"x": x, "y": y, "width": width, "height": height, "rotation": 0, "rectanglelabels": ["cat"]}
    result = {"id": "r1", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "value": rectangle}
    return {"id": task_id, "data": {"image": image}, "annotations": [{"id": task_id * 10, "completed_by": 1, "result": [result]}]}


def _coco(bbox: list[float]) -> dict:
    return {
        "images": [{"id": 1, "file_name": "photo.png", "width": 100, "height": 50}],
        "categories": [{"id": 3, "name": "cat"}],
        "annotations": [{"id": 9, "image_id": 1, "category_id": 3, "bbox": bbox}],
    }


def test_corrupt_image_bytes(tmp_path, ingest, stand_in, write_json):
    (tmp_path / "broken.jpg").write_bytes(b"this is not a JPEG at all")
    stand_in(tmp_path / "good.png", 8, 8)
    export = write_json(tmp_path / "chat.json", [_conversation("broken.jpg"), _conversation("good.png")])

    run = ingest(export, "llamafactory")

    assert [s.source.record_id for s in run.samples] == ["1"]
    assert run.quarantine == [
        {
            "source_file": "chat.json",
            "record_id": "0",
            "reason": "image cannot be decoded (not a known image format)",
            "field": "images[0]",
            "value": "broken.jpg",
        }
    ]


def test_truncated_image(tmp_path, ingest, write_json):
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buffer, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    export = write_json(tmp_path / "chat.json", [_conversation("cut.jpg")])

    run = ingest(export, "llamafactory")

    (entry,) = run.quarantine
    assert (entry["source_file"], entry["record_id"], entry["field"], entry["value"]) == ("chat.json", "0", "images[0]", "cut.jpg")
    assert entry["reason"].startswith("image cannot be decoded (")
    assert "0x" not in entry["reason"]  # no object addresses: reasons are part of the release hash


def test_missing_image_file(tmp_path, ingest, write_json):
    export = write_json(tmp_path / "export" / "chat.json", [_conversation("photos/missing.jpg")])
    (tmp_path / "root").mkdir()

    run = ingest(export, "llamafactory", images_root=tmp_path / "root")

    # Locations are shown relative to the export's folder and images_root, so the reason does not depend on the machine.
    assert run.quarantine == [
        {
            "source_file": "chat.json",
            "record_id": "0",
            "reason": "image file not found (looked at: photos/missing.jpg, <images_root>/photos/missing.jpg)",
            "field": "images[0]",
            "value": "photos/missing.jpg",
        }
    ]
    assert str(tmp_path) not in json.dumps(run.quarantine)


def test_image_path_escaping_the_source_root(tmp_path, ingest, stand_in, write_json):
    stand_in(tmp_path / "outside.png", 8, 8)  # exists, but outside the export's folder
    tasks = [_ls_task(1, "../../etc/passwd", 10, 10, 10, 10), _ls_task(2, "/data/local-files/?d=../outside.png", 10, 10, 10, 10)]
    export = write_json(tmp_path / "export" / "tasks.json", tasks)

    run = ingest(export, "label_studio")

    reason = "image path leads outside the export's folder and images_root"
    assert run.quarantine == [
        {"source_file": "tasks.json", "record_id": "task 1/annotation 10", "reason": reason,
         "field": "data.image", "value": "../../etc/passwd"},
        {"source_file": "tasks.json", "record_id": "task 2/annotation 20", "reason": reason,
         "field": "data.image", "value": "/data/local-files/?d=../outside.png"},
    ]  # fmt: skip
    assert run.stored_files() == []


def test_absolute_path_outside_the_roots_is_looked_for_inside_them(tmp_path, ingest, write_json):
    export = write_json(tmp_path / "chat.json", [_conversation("/etc/passwd")])

    run = ingest(export, "llamafactory")

    (entry,) = run.quarantine
    assert (entry["record_id"], entry["reason"]) == ("0", "image file not found (looked at: etc/passwd)")
    assert run.stored_files() == []


def test_box_outside_the_image(tmp_path, ingest, stand_in, write_json):
    stand_in(tmp_path / "photo.png", 100, 50)
    # x 90% + width 20% of 100 px ends at 110 px; task 2 stays inside.
    export = write_json(tmp_path / "tasks.json", [_ls_task(1, "photo.png", 90, 20, 20, 40), _ls_task(2, "photo.png", 10, 20, 20, 40)])

    run = ingest(export, "label_studio")

    assert [s.source.record_id for s in run.samples] == ["task 2/annotation 20"]
    assert run.quarantine == [
        {
            "source_file": "tasks.json",
            "record_id": "task 1/annotation 10",
            "reason": "box [90.00, 10.00, 110.00, 30.00] ('cat') lies outside the 100x50 image",
            "field": "boxes[0]",
            "value": json.dumps([90 / 100 * 100, 20 / 100 * 50, 90 / 100 * 100 + 20 / 100 * 100, 20 / 100 * 50 + 40 / 100 * 50]),
        }
    ]


def test_box_within_the_rounding_tolerance_is_clipped(tmp_path, ingest, stand_in, write_json, xyxy):
    stand_in(tmp_path / "photo.png", 100, 50)
    export = write_json(tmp_path / "instances.json", _coco([90, 10, 10.4, 5]))  # ends at 100.4 px, tolerance 0.5 px

    run = ingest(export, "coco")

    assert run.quarantine == []
    assert xyxy(run.samples[0].boxes[0]) == (90.0, 10.0, 100.0, 15.0)


def test_box_with_x1_not_below_x2(tmp_path, ingest, stand_in, write_json):
    stand_in(tmp_path / "photo.png", 100, 50)
    export = write_json(tmp_path / "instances.json", _coco([5, 5, 0, 3]))

    run = ingest(export, "coco")

    assert run.samples == []
    assert run.quarantine == [
        {
            "source_file": "instances.json",
            "record_id": "image 1",
            "reason": "box [5.00, 5.00, 5.00, 8.00] ('cat') has x1>=x2 or y1>=y2",
            "field": "boxes[0]",
            "value": "[5.0, 5.0, 5.0, 8.0]",
        }
    ]


def test_malformed_json_file(tmp_path, ingest):
    export = tmp_path / "chat.json"
    export.write_text('[{"messages": [}]', encoding="utf-8")

    run = ingest(export, "llamafactory")

    assert run.quarantine == [
        {
            "source_file": "chat.json",
            "record_id": "file",
            "reason": "malformed JSON: Expecting value at line 1 column 16",
            "field": "file",
            "value": "chat.json",
        }
    ]


def test_malformed_jsonl_line_leaves_the_other_lines(tmp_path, ingest, stand_in):
    stand_in(tmp_path / "good.png", 8, 8)
    good = json.dumps(_conversation("good.png"))
    export = tmp_path / "chat.jsonl"
    export.write_text(f'{good}\n{{"messages": [\n\n{good}\n', encoding="utf-8")

    run = ingest(export, "llamafactory")

    assert [s.source.record_id for s in run.samples] == ["line 1", "line 4"]
    assert run.quarantine == [
        {
            "source_file": "chat.jsonl",
            "record_id": "line 2",
            "reason": "malformed JSON: Expecting value at column 15",
            "field": "line",
            "value": '{"messages": [',
        }
    ]


def test_label_studio_polygon_is_an_unknown_label_format(fixtures_dir, tmp_path, ingest, stand_in):
    stand_in(tmp_path / "image2", 640, 426)

    run = ingest(fixtures_dir / CONVERTER_POLYGONS, "label_studio", images_root=tmp_path)

    (entry,) = run.quarantine
    assert (entry["source_file"], entry["record_id"]) == ("data_polygons.json", "task 68501/annotation 211797")
    assert entry["reason"].startswith("result type 'polygonlabels' (from_name 'label') is not a supported label format")


def test_yolo_polygon_line_is_an_unknown_label_format(tmp_path, ingest, stand_in):
    folder = tmp_path / "yolo"
    (folder / "labels").mkdir(parents=True)
    (folder / "classes.txt").write_text("cat\n", encoding="utf-8")
    stand_in(folder / "images" / "box.png", 100, 50)
    stand_in(folder / "images" / "poly.png", 100, 50, color=(1, 2, 3))
    (folder / "labels" / "box.txt").write_text("0 0.5 0.5 0.2 0.4\n", encoding="utf-8")
    (folder / "labels" / "poly.txt").write_text("0 0.1 0.1 0.3 0.1 0.3 0.4\n", encoding="utf-8")

    run = ingest(folder, "yolo")

    assert [(s.source.record_id, [(b.x1, b.y1, b.x2, b.y2) for b in s.boxes]) for s in run.samples] == [
        ("images/box.png", [(0.5 * 100 - 0.2 * 100 / 2, 0.5 * 50 - 0.4 * 50 / 2, 0.5 * 100 + 0.2 * 100 / 2, 0.5 * 50 + 0.4 * 50 / 2)])
    ]
    assert run.quarantine == [
        {
            "source_file": "yolo",
            "record_id": "images/poly.png",
            "reason": "label line has 7 values; expected 5 (class cx cy w h), polygons and keypoints are not supported",
            "field": "labels line 1",
            "value": "0 0.1 0.1 0.3 0.1 0.3 0.4",
        }
    ]


def test_yolo_folder_without_classes(tmp_path, ingest, stand_in):
    stand_in(tmp_path / "yolo" / "images" / "a.png", 8, 8)

    run = ingest(tmp_path / "yolo", "yolo")

    assert run.quarantine == [
        {"source_file": "yolo", "record_id": "classes.txt", "reason": "YOLO folder has no classes.txt", "field": "classes.txt", "value": "yolo"}
    ]
