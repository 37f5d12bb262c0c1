"""COCO files from label-studio-sdk's import test and datumaro's assets, and label-studio-converter's YOLO folder."""

from __future__ import annotations

import pytest

LS_COCO = "label_studio_sdk/tests/custom/converter/data/test_import_coco/coco_import_input.json"
DATUMARO = "datumaro/tests/assets/coco_dataset/coco/annotations"
YOLO = "label_studio_converter/tests/data/test_import_yolo_data_unif_dims"


def test_coco_from_another_tool_with_huge_images(fixtures_dir, tmp_path, ingest, stand_in, xyxy):
    # The file's images are 4022x6033 and 7050x4702 and not shipped; solid-colour stand-ins are small files.
    stand_in(tmp_path / "image1.jpg", 4022, 6033)
    stand_in(tmp_path / "image2.jpg", 7050, 4702)

    run = ingest(fixtures_dir / LS_COCO, "coco", images_root=tmp_path)

    assert run.quarantine == []
    assert [(s.source.file, s.source.record_id, s.task_type) for s in run.samples] == [
        ("coco_import_input.json", "image 0", "grounding"),
        ("coco_import_input.json", "image 1", "grounding"),
    ]
    first, second = run.samples
    assert (first.images[0].width, first.images[0].height, first.images[0].format) == (4022, 6033, "jpg")
    assert (second.images[0].width, second.images[0].height) == (7050, 4702)
    # bbox [x, y, w, h] -> [x, y, x + w, y + h]; "iscrowd": "false" (a string) and extra keys are ignored.
    (box,) = first.boxes
    assert xyxy(box) == (3651, 872, 3651 + 113, 872 + 114)
    assert box.label == "Class_1"
    (box,) = second.boxes
    assert xyxy(box) == (5040, 1686, 5040 + 89, 1686 + 89)
    assert box.label == "Class_2"


@pytest.fixture
def datumaro_images(tmp_path, stand_in):
    """a.jpg is 10x5 and b.jpg 5x10, as the COCO files declare; datumaro's test builds them in memory."""
    root = tmp_path / "datumaro_images"
    stand_in(root / "a.jpg", 10, 5)
    stand_in(root / "b.jpg", 5, 10, color=(0, 90, 0))
    return root


def test_coco_captions(fixtures_dir, ingest, datumaro_images):
    train = ingest(fixtures_dir / DATUMARO / "captions_train.json", "coco", images_root=datumaro_images)
    val = ingest(fixtures_dir / DATUMARO / "captions_val.json", "coco", images_root=datumaro_images)

    assert train.quarantine == val.quarantine == []
    assert [(s.source.file, s.source.record_id, s.task_type) for s in train.samples + val.samples] == [
        ("captions_train.json", "image 5/caption 1", "caption"),
        ("captions_val.json", "image 40/caption 1", "caption"),
        ("captions_val.json", "image 40/caption 2", "caption"),
    ]
    captions = [[(turn.role, turn.content) for turn in s.conversations] for s in train.samples + val.samples]
    assert captions == [
        [("user", "<image>\nDescribe this image."), ("assistant", "hello")],
        [("user", "<image>\nDescribe this image."), ("assistant", "world")],
        [("user", "<image>\nDescribe this image."), ("assistant", "text")],
    ]
    assert [(s.images[0].width, s.images[0].height) for s in train.samples + val.samples] == [(10, 5), (5, 10), (5, 10)]
    assert val.samples[0].images == val.samples[1].images


def test_coco_instances(fixtures_dir, ingest, datumaro_images, xyxy):
    train = ingest(fixtures_dir / DATUMARO / "instances_train.json", "coco", images_root=datumaro_images)
    val = ingest(fixtures_dir / DATUMARO / "instances_val.json", "coco", images_root=datumaro_images)

    assert train.quarantine == val.quarantine == []
    (a,) = train.samples
    assert (a.source.record_id, a.task_type, a.images[0].width, a.images[0].height) == ("image 5", "grounding", 10, 5)
    assert [(b.label, xyxy(b)) for b in a.boxes] == [("b", (2.0, 2.0, 2.0 + 3.0, 2.0 + 1.0))]
    (b,) = val.samples
    assert (b.source.record_id, b.images[0].width, b.images[0].height) == ("image 40", 5, 10)
    # A polygon annotation and an RLE crowd region: both have a bbox, which is what is kept.
    assert [(box.label, xyxy(box)) for box in b.boxes] == [("a", (0.0, 0.0, 0.0 + 1.0, 0.0 + 2.0)), ("b", (0.0, 0.0, 0.0 + 1.0, 0.0 + 9.0))]


def test_coco_folder_of_every_task_type(fixtures_dir, ingest, datumaro_images):
    """A folder is every JSON in it, by name; what carries no box or caption is quarantined with the reason."""
    run = ingest(fixtures_dir / DATUMARO, "coco", images_root=datumaro_images)

    assert (run.stats["rows_in"], run.stats["rows_ok"], run.stats["rows_quarantined"]) == (13, 9, 4)
    assert sorted({s.source.file for s in run.samples}) == [
        "captions_train.json",
        "captions_val.json",
        "instances_train.json",
        "instances_val.json",
        "person_keypoints_train.json",
        "person_keypoints_val.json",
        "stuff_train.json",
        "stuff_val.json",
    ]
    assert [(q["source_file"], q["record_id"], q["reason"]) for q in run.quarantine] == [
        ("labels_train.json", "image 5", "annotation has no [x, y, width, height] bbox"),
        ("labels_val.json", "image 40", "annotation has no [x, y, width, height] bbox"),
        ("panoptic_train.json", "image 5",
         "panoptic annotation (segments_info with a PNG mask) is not a supported label format; supported: bbox, caption"),
        ("panoptic_val.json", "image 40",
         "panoptic annotation (segments_info with a PNG mask) is not a supported label format; supported: bbox, caption"),
    ]  # fmt: skip
    # a.jpg and b.jpg are stored once each, however many files name them.
    assert len(run.stored_files()) == 2


def test_coco_size_that_disagrees_with_the_image_is_quarantined(fixtures_dir, tmp_path, ingest, stand_in):
    stand_in(tmp_path / "a.jpg", 5, 10)  # the file says 10x5

    run = ingest(fixtures_dir / DATUMARO / "instances_train.json", "coco", images_root=tmp_path)

    assert run.quarantine == [
        {
            "source_file": "instances_train.json",
            "record_id": "image 5",
            "reason": "COCO says 10x5 but the image is 5x10",
            "field": "width/height",
            "value": "[10, 5]",
        }
    ]


def test_yolo_folder_of_real_photos(fixtures_dir, ingest, xyxy):
    run = ingest(fixtures_dir / YOLO, "yolo")

    assert run.quarantine == []
    assert [(s.source.file, s.source.record_id, s.task_type) for s in run.samples] == [
        (YOLO.rsplit("/", 1)[-1], f"images/img_{n}.jpg", "grounding") for n in range(1, 6)
    ]
    assert {(s.images[0].width, s.images[0].height) for s in run.samples} == {(640, 329)}
    assert [len(s.boxes) for s in run.samples] == [4, 4, 4, 4, 3]

    # img_1.txt: "class cx cy w h" as fractions of 640x329; classes.txt: closed_door, opened_door, bus, number.
    w, h = 640, 329
    img_1 = run.sample("images/img_1.jpg")
    expected = [
        ("bus", 0.49765625, 0.46200607902735563, 0.9640625, 0.8693009118541033),
        ("number", 0.2890625, 0.1656534954407295, 0.071875, 0.13677811550151975),
        ("closed_door", 0.43125, 0.5319148936170213, 0.121875, 0.7051671732522796),
        ("closed_door", 0.790625, 0.5030395136778115, 0.090625, 0.5866261398176292),
    ]
    for box, (label, cx, cy, bw, bh) in zip(img_1.boxes, expected, strict=True):
        assert box.label == label
        assert xyxy(box) == pytest.approx(
            (cx * w - bw * w / 2, cy * h - bh * h / 2, cx * w + bw * w / 2, cy * h + bh * h / 2), abs=1e-9
        )
    # The same numbers worked out: the bus spans x 318.5 -/+ 308.5 and y 152 -/+ 143.
    assert xyxy(img_1.boxes[0]) == pytest.approx((10.0, 9.0, 627.0, 295.0), abs=1e-9)
