"""Samples of one image merged: LLaMA-Factory's EN and ZH questions about one photo, a caption with a bus photo's boxes."""

from __future__ import annotations

import numpy as np

from vlforge.config import Recipe
from vlforge.export import llamafactory
from vlforge.export.render import check_messages
from vlforge.records import Sample, Source, Turn
from vlforge.synth.compose import same_image
from vlforge.synth.compose.rule import compose_params
from vlforge.synth.compose.stage import recompose


def test_the_english_and_chinese_questions_about_one_photo_become_one_conversation(mllm_demo: list[Sample]) -> None:
    groups = same_image.image_groups(mllm_demo)
    # mllm_demo asks about three photos in English and in Chinese; the two-image pair is not a same-image group
    assert [len(group) for group in groups] == [2, 2]
    group = next(g for g in groups if "Who is he?" in g[0].conversations[0].content + g[1].conversations[0].content)
    assert same_image.can_compose("multi_turn", group) and not same_image.can_compose("multi_task", group)
    pairs = same_image.distinct_pairs(group)
    assert len(pairs) == 4  # two question/answer pairs in each language
    sample = same_image.compose("multi_turn", group, {"order": [3, 0, 2, 1]})
    expected = [pairs[3], pairs[0], pairs[2], pairs[1]]
    assert [(q.content, a.content) for q, a in zip(sample.conversations[::2], sample.conversations[1::2], strict=True)] == [
        ("<image>\n" + expected[0][0], expected[0][1]),
        *expected[1:],
    ]
    assert sample.images == group[0].images and sample.task_type == "vqa" and not sample.boxes
    assert compose_params(sample) == {"rule": "multi_turn", "sources": [s.sample_id for s in group], "order": [3, 0, 2, 1]}
    assert recompose(sample, {s.sample_id: s for s in group}.get) == sample


def test_duplicate_pairs_are_removed_and_the_order_is_seeded(mllm_demo: list[Sample]) -> None:
    group = same_image.image_groups(mllm_demo)[0]
    doubled = [group[0], group[0].model_copy(update={"sample_id": "copy"}), group[1]]
    assert same_image.distinct_pairs(doubled) == same_image.distinct_pairs(group)
    drawn = same_image.draw(group, np.random.default_rng(5), max_pairs=3)
    assert drawn == same_image.draw(group, np.random.default_rng(5), max_pairs=3)
    assert len(drawn["order"]) == 3 and len(set(drawn["order"])) == 3


def test_a_caption_and_a_photo_s_boxes_become_one_multi_task_conversation(bus_photos: dict[str, Sample], recipe: Recipe) -> None:
    boxes = bus_photos["img_1"]
    caption = Sample(
        sample_id="caption-img_1",
        task_type="caption",
        images=boxes.images,
        conversations=(Turn(role="user", content="<image>\nDescribe this image."), Turn(role="assistant", content="A red bus.")),
        source=Source(file="captions.json", record_id="1"),
    )
    group = same_image.image_groups([caption, boxes, bus_photos["img_2"]])
    assert group == [sorted([caption, boxes], key=lambda s: s.sample_id)]
    assert same_image.can_compose("multi_task", group[0]) and not same_image.can_compose("multi_turn", group[0])
    sample = same_image.compose("multi_task", group[0], {"order": [0]})
    assert sample.task_type == "grounding" and sample.boxes == boxes.boxes
    record = llamafactory.record(sample, recipe, "../../images")
    check_messages(sample, record["messages"])
    assert [m["content"] for m in record["messages"]][:3] == [
        "<image>\nDescribe this image.",
        "A red bus.",
        recipe.prompts.grounding,
    ]
