"""augment_sample and replay on a real photo: lineage, text kept true, lost objects, byte-exact replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from augment_photos import YOLO_DIR, yolo_boxes

from vlforge.augment.ops import REGISTRY, Op, build_op
from vlforge.augment.pipeline import (
    augment_sample,
    decode_image,
    ops_from_recipe,
    parent_image,
    replay,
    replay_sample,
    sample_rng,
)
from vlforge.records import ImageRef, LineageOp, Sample, Source, Turn
from vlforge.store import sha256_bytes

IMAGE_BYTES = (YOLO_DIR / "images" / "img_1.jpg").read_bytes()


def bus_sample(conversations: tuple[Turn, ...]) -> Sample:
    return Sample(
        sample_id="bus0000000000001",
        task_type="grounding",
        images=(ImageRef(sha256=sha256_bytes(IMAGE_BYTES), width=640, height=329, format="jpg"),),
        conversations=conversations,
        boxes=yolo_boxes("img_1", 640, 329),
        source=Source(file="labels/img_1.txt", record_id="img_1"),
        lineage=(LineageOp(op="ingest_yolo"),),
    )


GROUNDING = (
    Turn(role="user", content="<image>\nWhat is the number on the bus?"),
    Turn(role="assistant", content="<ref>number</ref><box>(253,97),(325,234)</box>"),
    Turn(role="user", content="Where is the bus? The door on the left is closed."),
    Turn(role="assistant", content="<ref>bus</ref><box>(15,27),(979,896)</box>"),
)


class FixedCrop(Op):
    """The right half, always: a real random_resized_crop with drawn params pinned, for exact answers."""

    name = "random_resized_crop"
    Params = build_op("random_resized_crop").Params

    def sample(self, rng: np.random.Generator) -> dict:
        return {"x_min_frac": 0.5, "y_min_frac": 0.0, "width_frac": 0.5, "height_frac": 1.0}

    def transforms(self, params, width, height):
        return build_op("random_resized_crop").transforms(params, width, height)


def test_crop_rewrites_box_in_answer_and_drops_question_about_cropped_object() -> None:
    result = augment_sample(bus_sample(GROUNDING), IMAGE_BYTES, [(FixedCrop(), 1.0)], rng_seed=5, copy_index=0)
    assert result is not None
    sample, data = result
    # bus box 0..1000 form: x 15/1000*640 = 9.6 -> clip 320 -> 0; 979/1000*640 = 626.56 -> (626.56-320)*2 = 613.12
    # -> floor(613.12 / 640 * 1000) = 958; y unchanged.
    assert [t.content for t in sample.conversations] == [
        "<image>\nWhere is the bus? The door on the left is closed.",
        "<ref>bus</ref><box>(0,27),(958,896)</box>",
    ]
    assert [b.label for b in sample.boxes] == ["bus", "closed_door"]
    ops = [entry.op for entry in sample.lineage]
    assert ops == ["ingest_yolo", "parent", "random_resized_crop", "dropped", "dropped_turns"]
    dropped = json.loads(sample.lineage[3].params_json)
    assert dropped["op"] == "random_resized_crop" and any("'number'" in t for t in dropped["targets"])
    assert json.loads(sample.lineage[4].params_json) == {"turns": [0, 1]}
    assert sample.images[0].sha256 == sha256_bytes(data) and sample.images[0].format == "jpg"  # a photo: JPEG 95
    assert decode_image(data, "test").shape == (329, 640, 3)


def test_drop_sample_rule() -> None:
    kept = augment_sample(
        bus_sample(GROUNDING), IMAGE_BYTES, [(FixedCrop(), 1.0)], 5, 0, on_lost_object="drop_sample"
    )
    assert kept is None


def test_flip_swaps_words_and_mirrors_boxes_in_text() -> None:
    turns = (
        Turn(role="user", content="<image>\nWhat is on the left of the bus? 左边是什么？"),
        Turn(role="assistant", content="The cup on the left of the laptop, <box>(100,0),(300,500)</box>."),
    )
    result = augment_sample(bus_sample(turns), IMAGE_BYTES, [(build_op("horizontal_flip"), 1.0)], 1, 0)
    assert result is not None
    sample, _ = result
    assert sample.conversations[0].content == "<image>\nWhat is on the right of the bus? 右边是什么？"
    # x 100/1000*640 = 64 -> 640 - 64 = 576 -> 900; 300 -> 192 -> 448 -> 700
    assert sample.conversations[1].content == "The cup on the right of the laptop, <box>(700,0),(900,500)</box>."
    assert (sample.boxes[0].x1, sample.boxes[0].x2) == pytest.approx((13.0, 630.0))


RECIPE = [
    {"random_resized_crop": {"probability": 0.7, "scale_range": (0.6, 1.0)}},
    {"horizontal_flip": {"probability": 0.5}},
    {"rotate": {"probability": 0.5, "angle_range": (-10, 10)}},
    {"color_jitter": {"probability": 0.8}},
    {"gaussian_noise": {"probability": 0.5}},
    {"random_erasing": {"probability": 0.5}},
    {"jpeg": {"probability": 0.5}},
]


@pytest.mark.parametrize("copy_index", [0, 1, 2, 3])
def test_replay_gives_identical_bytes_boxes_and_text(copy_index: int) -> None:
    parent = bus_sample(GROUNDING[2:])
    result = augment_sample(parent, IMAGE_BYTES, ops_from_recipe(RECIPE), 11, copy_index)
    assert result is not None
    child, data = result
    assert replay(parent, IMAGE_BYTES, child.lineage) == data
    again = replay_sample(parent, IMAGE_BYTES, child.lineage)
    assert again == (child, data)
    # the same draw again from scratch
    assert augment_sample(parent, IMAGE_BYTES, ops_from_recipe(RECIPE), 11, copy_index) == result


PIXEL_AND_WARP_RECIPE = [
    {"perspective": {}},
    {"ocr_degradation": {}},
    {"low_light": {}},
    {"motion_blur": {}},
    {"gaussian_blur": {}},
    {"jpeg": {}},
]


def test_replay_of_every_other_op() -> None:
    parent = bus_sample(GROUNDING[2:])
    result = augment_sample(parent, IMAGE_BYTES, ops_from_recipe(PIXEL_AND_WARP_RECIPE), 4, 0)
    assert result is not None
    child, data = result
    assert [e.op for e in child.lineage if e.op not in ("dropped", "dropped_turns")][2:] == [
        "perspective", "ocr_degradation", "low_light", "motion_blur", "gaussian_blur", "jpeg"
    ]
    assert replay_sample(parent, IMAGE_BYTES, child.lineage) == (child, data)


def test_copies_and_seeds_differ_and_ids_are_new() -> None:
    parent = bus_sample(GROUNDING[2:])
    ops = ops_from_recipe(RECIPE)
    results = [augment_sample(parent, IMAGE_BYTES, ops, 11, i) for i in range(4)]
    ids = {r[0].sample_id for r in results if r}
    assert parent.sample_id not in ids and len(ids) == len([r for r in results if r])
    a = sample_rng(11, parent.sample_id, 0).random(4)
    assert not np.array_equal(a, sample_rng(11, parent.sample_id, 1).random(4))
    assert not np.array_equal(a, sample_rng(12, parent.sample_id, 0).random(4))


def test_copies_from_one_decoded_parent_equal_copies_each_from_the_file() -> None:
    parent = bus_sample(GROUNDING[2:])
    ops = [(build_op(name), 0.5) for name in sorted(REGISTRY)]
    image = parent_image(parent, IMAGE_BYTES)
    shared = [augment_sample(parent, image, ops, 11, index) for index in range(8)]
    assert shared == [augment_sample(parent, IMAGE_BYTES, ops, 11, index) for index in range(8)]
    assert len({result[1] for result in shared if result}) >= 6  # real, different copies


class WritesIntoItsInput(Op):
    name = "horizontal_flip"

    def sample(self, rng: np.random.Generator) -> dict:
        return {}

    def apply(self, image, targets, params):
        image[0, 0] = 0
        return image, targets


def test_an_op_writing_into_the_decoded_parent_raises_instead_of_changing_the_next_copy() -> None:
    parent = bus_sample(GROUNDING[2:])
    with pytest.raises(ValueError, match="read-only"):
        augment_sample(parent, parent_image(parent, IMAGE_BYTES), [(WritesIntoItsInput(), 1.0)], 0, 0)


def test_probability_zero_applies_nothing_but_records_parent() -> None:
    parent = bus_sample(GROUNDING)
    child, _ = augment_sample(parent, IMAGE_BYTES, [(build_op("horizontal_flip"), 0.0)], 3, 0)
    assert [e.op for e in child.lineage] == ["ingest_yolo", "parent"]
    assert json.loads(child.lineage[1].params_json)["sample_id"] == parent.sample_id
    assert child.conversations == parent.conversations and child.boxes == parent.boxes


def test_errors_name_sample_and_value() -> None:
    parent = bus_sample(GROUNDING).model_copy(update={"images": ()})
    with pytest.raises(ValueError, match=r"bus0000000000001.*labels/img_1.txt.*exactly one image"):
        augment_sample(parent, IMAGE_BYTES, [], 0, 0)
    with pytest.raises(ValueError, match="unknown augment op 'blurr'"):
        ops_from_recipe([{"blurr": {}}])
