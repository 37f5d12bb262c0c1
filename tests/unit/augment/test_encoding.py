"""Output encodings per task type: defaults, recipe choices, lineage, byte-exact replay, legacy lineage."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from augment_photos import YOLO_DIR, yolo_boxes
from vlforge.augment.config import AugmentConfig
from vlforge.augment.encoding import DEFAULT_ENCODINGS, LEGACY_ENCODING, ImageEncoding
from vlforge.augment.ops import build_op
from vlforge.augment.pipeline import augment_sample, decode_image, replay
from vlforge.records import TASK_TYPES, ImageRef, LineageOp, Sample, Source, Turn
from vlforge.store import sha256_bytes

IMAGE_BYTES = (YOLO_DIR / "images" / "img_1.jpg").read_bytes()
ROTATE = [(build_op("rotate", {"angle_range": [-10, 10]}), 1.0)]


def bus(task_type: str) -> Sample:
    return Sample(
        sample_id="bus0000000000001",
        task_type=task_type,
        images=(ImageRef(sha256=sha256_bytes(IMAGE_BYTES), width=640, height=329, format="jpg"),),
        conversations=(Turn(role="user", content="<image>\nWhat is this?"), Turn(role="assistant", content="A bus.")),
        boxes=yolo_boxes("img_1", 640, 329),
        source=Source(file="labels/img_1.txt", record_id="img_1"),
    )


def parent_entry(sample: Sample) -> dict:
    (entry,) = [e for e in sample.lineage if e.op == "parent"]
    return json.loads(entry.params_json)


def test_every_task_type_has_a_default_and_photos_are_jpeg_text_pages_png() -> None:
    assert set(DEFAULT_ENCODINGS) == set(TASK_TYPES)
    assert {t for t, e in DEFAULT_ENCODINGS.items() if e.format == "png"} == {"ocr", "gui_action"}
    assert all(e == ImageEncoding(format="jpeg", quality=95) for t, e in DEFAULT_ENCODINGS.items() if e.format != "png")


@pytest.mark.parametrize(
    ("task_type", "extension", "magic", "recorded"),
    [
        ("grounding", "jpg", b"\xff\xd8\xff", {"format": "jpeg", "quality": 95}),
        ("ocr", "png", b"\x89PNG", {"format": "png", "compression": 1}),
        ("gui_action", "png", b"\x89PNG", {"format": "png", "compression": 1}),
    ],
)
def test_default_encoding_by_task_type_is_recorded_and_replays(task_type: str, extension: str, magic: bytes, recorded: dict) -> None:
    parent = bus(task_type)
    result = augment_sample(parent, IMAGE_BYTES, ROTATE, rng_seed=1, copy_index=0)
    assert result is not None
    child, data = result
    assert data.startswith(magic) and child.images[0].format == extension and child.images[0].sha256 == sha256_bytes(data)
    assert parent_entry(child)["encoding"] == recorded
    assert replay(parent, IMAGE_BYTES, child.lineage) == data


def test_png_is_lossless_at_every_level() -> None:
    image = decode_image(IMAGE_BYTES, "bus")
    for level in (0, 1, 6, 9):
        data = ImageEncoding(format="png", compression=level).encode(image)
        assert np.array_equal(decode_image(data, "png"), image)


def test_replay_uses_the_recorded_encoding_not_the_recipe_of_today() -> None:
    parent = bus("caption")
    webp = ImageEncoding(format="webp", quality=80)
    child, data = augment_sample(parent, IMAGE_BYTES, ROTATE, rng_seed=2, copy_index=0, encoding=webp)
    assert child.images[0].format == "webp" and data[8:12] == b"WEBP"
    assert parent_entry(child)["encoding"] == {"format": "webp", "quality": 80}
    assert replay(parent, IMAGE_BYTES, child.lineage) == data


def test_lineage_without_an_encoding_replays_as_png_level_6() -> None:
    # lineage written before encodings were recorded: the stage wrote PNG at compression 6
    parent = bus("grounding")
    child, _ = augment_sample(parent, IMAGE_BYTES, ROTATE, rng_seed=3, copy_index=0, encoding=LEGACY_ENCODING)
    old = [
        e if e.op != "parent" else e.model_copy(update={"params_json": json.dumps({k: v for k, v in parent_entry(child).items() if k != "encoding"})})
        for e in child.lineage
    ]
    data = replay(parent, IMAGE_BYTES, [LineageOp(**e.model_dump()) for e in old])
    rotated = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    ok, expected = cv2.imencode(".png", rotated, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    assert ok and data == expected.tobytes()


def test_recipe_overrides_one_task_type_and_keeps_the_others() -> None:
    config = AugmentConfig(encoding={"caption": {"format": "webp"}, "ocr": {"format": "png", "compression": 9}})
    assert config.encoding_for("caption") == ImageEncoding(format="webp", quality=90)
    assert config.encoding_for("ocr").compression == 9
    assert config.encoding_for("grounding") == DEFAULT_ENCODINGS["grounding"]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ({"nope": {"format": "png"}}, r"task types \['nope'\] unknown"),
        ({"ocr": {"format": "png", "quality": 90}}, "png is lossless"),
        ({"caption": {"format": "jpeg", "compression": 3}}, "jpeg takes quality"),
        ({"caption": {"format": "gif"}}, "format"),
        ({"caption": {"format": "jpeg", "quality": 101}}, "quality"),
    ],
)
def test_bad_encodings_name_the_field_and_value(encoding: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AugmentConfig(encoding=encoding)
