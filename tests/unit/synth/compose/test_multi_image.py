"""Multi-image samples from the real YOLO bus photos: answers from hand-counted boxes, exported by each trainer's rules."""

from __future__ import annotations

import numpy as np
import pytest

from vlforge.config import Recipe
from vlforge.export import llamafactory, ms_swift, qwen_vl_chatml
from vlforge.export.render import check_messages
from vlforge.records import Sample
from vlforge.synth.compose import multi_image
from vlforge.synth.compose.config import MultiImageConfig
from vlforge.synth.compose.stage import recompose

QUESTIONS = [
    (
        {"kind": "count", "label": "bus", "language": "en"},
        "How many bus are there in each picture?",
        "Picture 1: 1. Picture 2: 2. Picture 3: 1.",
    ),
    (
        {"kind": "count", "label": "closed_door", "language": "zh"},
        "每张图片中各有几个“closed_door”？",
        "图片1：2个；图片2：1个；图片3：2个。",
    ),
    ({"kind": "which", "label": "number", "language": "en"}, "Which pictures show a number?", "Pictures 1 and 3."),
    ({"kind": "which", "label": "number", "language": "zh"}, "哪些图片中有“number”？", "图片1和图片3。"),
    ({"kind": "which", "label": "opened_door", "language": "en"}, "Which pictures show a opened_door?", "None of them."),
    ({"kind": "presence", "label": "number", "picture": 1, "language": "en"}, "Is there a number in Picture 2?", "No."),
    ({"kind": "presence", "label": "closed_door", "picture": 1, "language": "zh"}, "图片2中有“closed_door”吗？", "有。"),
    # bus shares of their pictures, from the YOLO widths and heights: img_1 0.9641 * 0.8693 = 0.838, img_3 0.4203 * 0.525 = 0.221
    (
        {"kind": "larger", "first": [0, "bus"], "second": [2, "bus"], "language": "en"},
        "Which takes up more of its picture: the bus in Picture 1 or the bus in Picture 3?",
        "The bus in Picture 1.",
    ),
    (
        {"kind": "larger", "first": [0, "bus"], "second": [2, "bus"], "language": "zh"},
        "图片1中的“bus”和图片3中的“bus”，哪一个在其图片中所占面积更大？",
        "图片1中的“bus”。",
    ),
]


@pytest.fixture
def three(bus_photos: dict[str, Sample]) -> list[Sample]:
    return [bus_photos["img_1"], bus_photos["img_5"], bus_photos["img_3"]]


@pytest.mark.parametrize(("question", "asked", "answer"), QUESTIONS)
def test_answers_come_from_the_hand_counted_boxes(three: list[Sample], question: dict, asked: str, answer: str) -> None:
    assert multi_image.question_and_answer(three, question) == (asked, answer)


def test_the_sample_holds_each_picture_and_its_boxes_on_it(three: list[Sample]) -> None:
    params = {"questions": [QUESTIONS[0][0], QUESTIONS[2][0]]}
    sample = multi_image.compose(three, params)
    assert [image.sha256 for image in sample.images] == [source.images[0].sha256 for source in three]
    assert [box.image_index for box in sample.boxes] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert [(turn.role, turn.content) for turn in sample.conversations] == [
        ("user", "<image><image><image>\nHow many bus are there in each picture?"),
        ("assistant", "Picture 1: 1. Picture 2: 2. Picture 3: 1."),
        ("user", "Which pictures show a number?"),
        ("assistant", "Pictures 1 and 3."),
    ]
    assert recompose(sample, {source.sample_id: source for source in three}.get) == sample


def test_larger_is_asked_only_of_lone_objects_that_do_not_nearly_tie(bus_photos: dict[str, Sample]) -> None:
    # img_5 has two buses, so its bus is never "the bus"; its one closed door takes 0.1594 * 0.5859 = 0.093 of it
    pairs = multi_image.larger_pairs([bus_photos["img_1"], bus_photos["img_5"]])
    assert pairs == [[[0, "bus"], [1, "closed_door"]], [[0, "number"], [1, "closed_door"]]]
    # img_1 and img_2 both have one bus, one number: 0.838 vs 0.414 and 0.0098 vs 0.0047 differ; the doors repeat
    same = multi_image.larger_pairs([bus_photos["img_1"], bus_photos["img_2"]])
    assert [pair for pair in same if pair[0][1] == pair[1][1]] == [[[0, "bus"], [1, "bus"]], [[0, "number"], [1, "number"]]]


def test_groups_use_each_photo_once_with_distinct_images(bus_photos: dict[str, Sample]) -> None:
    config = MultiImageConfig(min_images=2, max_images=2)
    groups = multi_image.draw_groups(multi_image.eligible(list(bus_photos.values())), config, np.random.default_rng(3))
    used = [sample.sample_id for group in groups for sample in group]
    assert len(groups) == 2 and all(len(group) == 2 for group in groups) and len(set(used)) == 4


def test_drawn_questions_are_reproducible_and_answerable(three: list[Sample]) -> None:
    config = MultiImageConfig(questions_per_sample=3)
    first = multi_image.draw(three, config, np.random.default_rng(7))
    assert first == multi_image.draw(three, config, np.random.default_rng(7))
    assert len(first["questions"]) == 3 and {q["language"] for q in first["questions"]} <= {"en", "zh"}
    for question in first["questions"]:
        multi_image.question_and_answer(three, question)


def test_exports_follow_each_trainer_s_rules(three: list[Sample], recipe: Recipe) -> None:
    sample = multi_image.compose(three, {"questions": [QUESTIONS[0][0]]})
    names = [image.file_name for image in sample.images]

    chatml = qwen_vl_chatml.record(sample, recipe, "../../images")["conversations"]
    assert chatml[0]["value"] == (
        "".join(f"Picture {n}: <img>../../images/{name}</img>\n" for n, name in enumerate(names, 1))
        + "How many bus are there in each picture?"
    )
    asked = [turn["value"] for turn in chatml[2::2]]
    assert asked == [f"Picture {n}: {recipe.prompts.grounding}" for n in (1, 2, 3)]

    sharegpt = llamafactory.record(sample, recipe, "../../images")
    check_messages(sample, sharegpt["messages"])
    assert "".join(m["content"] for m in sharegpt["messages"]).count("<image>") == len(sharegpt["images"]) == 3

    swift = ms_swift.record(sample, recipe, "../../images")
    objects, text = swift["objects"], "".join(m["content"] for m in swift["messages"])
    # ms-swift measures each bbox on images[image_id]: one id per box, in the order the <bbox> tags appear
    assert objects["image_id"] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert text.count("<bbox>") == len(objects["bbox"]) == 11 and text.count("<ref-object>") == len(objects["ref"]) == 11
    for image_id, (x1, y1, x2, y2) in zip(objects["image_id"], objects["bbox"], strict=True):
        image = sample.images[image_id]
        assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height
