"""Text rules: left/right after a mirror (EN, ZH), boxes written in text, turns about lost objects."""

from __future__ import annotations

import pytest

from vlforge.augment.text import drop_turns_about, find_text_boxes, swap_left_right, write_text_boxes
from vlforge.records import Turn

SWAPS = [
    ("the cup on the left of the laptop", "the cup on the right of the laptop"),
    ("The cup is to the left of the laptop.", "The cup is to the right of the laptop."),
    ("Left side: a dog. RIGHT side: a cat.", "Right side: a dog. LEFT side: a cat."),
    ("the leftmost car and the Rightmost bus", "the rightmost car and the Leftmost bus"),
    ("his left-hand glove, the top-right corner", "his right-hand glove, the top-left corner"),
    ("Turn left, then look right", "Turn right, then look left"),
    ("桌子左边有一个杯子", "桌子右边有一个杯子"),
    ("猫在沙发的左侧，狗在右侧", "猫在沙发的右侧，狗在左侧"),
    ("最左边的人举起右手", "最右边的人举起左手"),
    ("向左转", "向右转"),
]
KEPT = [
    "He left the room an hour ago.",  # past of "leave"
    "That is right.",  # "correct"
    "Do it right now.",
    "",
    "大约有十个人左右",  # 左右: "about"
    "他左右为难",  # 左右: "torn between"
    "向左右两边看",  # 左右 together: both sides, stays true after a mirror
    "座右铭",
]


@pytest.mark.parametrize(("before", "after"), SWAPS)
def test_spatial_words_swap(before: str, after: str) -> None:
    assert swap_left_right(before) == after
    assert swap_left_right(after) == before


@pytest.mark.parametrize("text", KEPT)
def test_non_spatial_words_stay(text: str) -> None:
    assert swap_left_right(text) == text


def test_find_and_write_qwen_vl_and_bbox_2d_boxes() -> None:
    turns = (
        Turn(role="user", content="<image>\nFind the dog."),
        Turn(role="assistant", content='<ref>dog</ref><box>(100,200),(500,800)</box> and [{"bbox_2d": [64, 20, 320, 200], "label": "cat"}]'),
    )
    found = find_text_boxes(turns, 640, 400, "pixels")
    assert [(t.turn, t.form) for t in found] == [(1, "qwen_vl"), (1, "bbox_2d")]
    assert found[0].box == (64.0, 80.0, 320.0, 320.0) and found[1].box == (64.0, 20.0, 320.0, 200.0)
    # mirrored on the 640x400 image: x' = 640 - x
    written = write_text_boxes(turns, [(320.0, 80.0, 576.0, 320.0), (320.0, 20.0, 576.0, 200.0)], 640, 400, "pixels")
    assert written[0] == turns[0]
    assert written[1].content == '<ref>dog</ref><box>(500,200),(900,800)</box> and [{"bbox_2d": [320, 20, 576, 200], "label": "cat"}]'
    in_1000 = write_text_boxes(turns, [None, (320.0, 20.0, 576.0, 200.0)], 640, 400, "relative_1000")
    assert '"bbox_2d": [500, 50, 900, 500]' in in_1000[1].content and "(100,200),(500,800)" in in_1000[1].content


def test_bbox_2d_in_relative_1000_is_read_as_thousandths() -> None:
    turns = (Turn(role="assistant", content='{"bbox_2d": [100, 250, 500, 750]}'),)
    assert find_text_boxes(turns, 640, 400, "relative_1000")[0].box == (64.0, 100.0, 320.0, 300.0)


def test_box_without_area_is_an_error_naming_the_turn() -> None:
    with pytest.raises(ValueError, match=r"turn 0.*bbox_2d"):
        find_text_boxes((Turn(role="user", content='"bbox_2d": [5, 5, 5, 9]'),), 640, 400, "pixels")


def test_question_about_lost_object_is_dropped_with_its_answer() -> None:
    turns = (
        Turn(role="system", content="You are helpful."),
        Turn(role="user", content="<image>\nWhat colour is the cup?"),
        Turn(role="assistant", content="The cup is red."),
        Turn(role="user", content="Where is the laptop?"),
        Turn(role="assistant", content="<ref>laptop</ref><box>(1,2),(300,400)</box>"),
    )
    kept, dropped = drop_turns_about(turns, set(), {"cup"}, {"laptop"})
    assert dropped == [1, 2]
    assert [t.content for t in kept] == ["You are helpful.", "<image>\nWhere is the laptop?", turns[4].content]


def test_shared_label_alone_does_not_drop_but_a_lost_box_in_the_turn_does() -> None:
    turns = (
        Turn(role="user", content="How many doors?"),
        Turn(role="assistant", content="Two doors."),
        Turn(role="user", content="Where is the door?"),
        Turn(role="assistant", content="<box>(1,2),(30,40)</box>"),
    )
    kept, dropped = drop_turns_about(turns, {3}, {"door"}, {"door"})
    assert dropped == [2, 3] and kept == turns[:2]
