"""Qwen-VL grounding answers, in each generation's real output format, become original-image boxes."""

from __future__ import annotations

import logging

import pytest

from vlforge.geometry import (
    relative_1000_to_xyxy,
    resized_absolute_to_xyxy,
    smart_resize,
    xyxy_to_relative_1000,
    xyxy_to_resized_absolute,
)
from vlforge.preannotate.parsing import clean_caption, parse_grounding, parse_ocr_lines


def _xyxy(boxes) -> list[tuple[float, float, float, float]]:  # noqa: ANN001
    return [(box.x1, box.y1, box.x2, box.y2) for box in boxes]


def test_qwen_vl_ref_box_tags_are_relative_1000() -> None:
    boxes = parse_grounding("<ref>the cat</ref><box>(120,56),(560,880)</box>", 1000, 500)
    assert [box.label for box in boxes] == ["the cat"]
    assert _xyxy(boxes) == [pytest.approx((120.0, 28.0, 560.0, 440.0))]


def test_qwen2_vl_special_token_tags_with_several_boxes_per_reference() -> None:
    answer = (
        "<|object_ref_start|>cars<|object_ref_end|><|box_start|>(10,20),(110,220)<|box_end|>"
        "<|box_start|>(500, 500), (600, 700)<|box_end|> and "
        "<|object_ref_start|>a dog<|object_ref_end|><|box_start|>(0,0),(1000,1000)<|box_end|>"
    )
    boxes = parse_grounding(answer, 2000, 1000)
    assert [box.label for box in boxes] == ["cars", "cars", "a dog"]
    assert _xyxy(boxes) == [
        pytest.approx((20.0, 20.0, 220.0, 220.0)),
        pytest.approx((1000.0, 500.0, 1200.0, 700.0)),
        pytest.approx((0.0, 0.0, 2000.0, 1000.0)),
    ]


def test_qwen2_5_vl_fenced_json_is_absolute_on_the_smart_resized_image() -> None:
    # The COCO photo of the Qwen3-VL finetune demo is 640x428; Qwen2.5-VL sees it as 644x420.
    resized_h, resized_w = smart_resize(428, 640)
    assert (resized_w, resized_h) == (644, 420)
    answer = '```json\n[\n\t{"bbox_2d": [135, 114, 516, 372], "label": "cat"},\n\t{"bbox_2d": [0, 300, 644, 420], "label": "sofa"}\n]\n```'
    boxes = parse_grounding(answer, 640, 428, "resized_absolute", (resized_w, resized_h))
    assert [box.label for box in boxes] == ["cat", "sofa"]
    assert _xyxy(boxes)[0] == pytest.approx((134.1615, 116.1714, 512.7950, 379.0857), abs=1e-3)
    assert _xyxy(boxes)[1] == pytest.approx((0.0, 305.7143, 640.0, 428.0), abs=1e-3)


def test_qwen3_vl_json_is_relative_1000() -> None:
    answer = '[{"bbox_2d": [100, 200, 500, 900], "label": "person"}, {"bbox_2d": [0, 0, 50, 50], "label": "交通标志"}]'
    boxes = parse_grounding(answer, 2000, 1000, "relative_1000")
    assert [box.label for box in boxes] == ["person", "交通标志"]
    assert _xyxy(boxes) == [pytest.approx((200.0, 200.0, 1000.0, 900.0)), pytest.approx((0.0, 0.0, 100.0, 50.0))]


@pytest.mark.parametrize(
    ("image_w", "image_h", "box"),
    [(640, 428, (12.5, 40.0, 600.0, 427.0)), (1080, 2400, (0.0, 0.0, 1080.0, 2400.0)), (451, 300, (100.2, 50.7, 101.9, 52.3))],
)
def test_conversions_invert_the_geometry_writers(image_w: int, image_h: int, box: tuple[float, float, float, float]) -> None:
    relative = xyxy_to_relative_1000(box, image_w, image_h)
    assert relative_1000_to_xyxy(relative, image_w, image_h) == pytest.approx(box, abs=max(image_w, image_h) / 1000)
    resized_h, resized_w = smart_resize(image_h, image_w)
    absolute = xyxy_to_resized_absolute(box, image_w, image_h, resized_w, resized_h)
    assert resized_absolute_to_xyxy(absolute, image_w, image_h, resized_w, resized_h) == pytest.approx(box, abs=1.5)


def test_a_cut_off_json_answer_keeps_its_complete_objects(caplog: pytest.LogCaptureFixture) -> None:
    answer = '```json\n[\n\t{"bbox_2d": [100, 100, 200, 200], "label": "cup"},\n\t{"bbox_2d": [300, 3'
    with caplog.at_level(logging.WARNING):
        boxes = parse_grounding(answer, 1000, 1000)
    assert _xyxy(boxes) == [pytest.approx((100.0, 100.0, 200.0, 200.0))]
    assert "kept its 1 complete objects" in caplog.text


def test_boxes_reaching_outside_the_image_are_clipped_to_it() -> None:
    boxes = parse_grounding('[{"bbox_2d": [-20, 900, 1010, 1100], "label": "floor"}]', 500, 200)
    assert _xyxy(boxes) == [pytest.approx((0.0, 180.0, 500.0, 200.0))]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "neither <box> tags nor JSON"),
        ("A cat sleeping on a sofa.", "neither <box> tags nor JSON"),
        ("```json\n[{\"bbox_2d\": [1, 2, 3", "not valid JSON"),
        ('```json\n[{"label": "cat"}]\n```', "no bbox_2d of four numbers"),
        ('[{"bbox_2d": [1, 2, 3], "label": "cat"}]', "no bbox_2d of four numbers"),
        ('[{"bbox_2d": ["1", "2", "3", "4"]}]', "no bbox_2d of four numbers"),
        ('[{"bbox_2d": [NaN, 2, 3, 4]}]', "no bbox_2d of four numbers"),
        ('[{"bbox_2d": [true, 2, 3, 4]}]', "no bbox_2d of four numbers"),
        ('["cat", 3]', "no bbox_2d of four numbers"),
        ('[{"bbox_2d": [500, 500, 100, 900], "label": "inverted"}]', "empty or inverted"),
        ('[{"bbox_2d": [1200, 0, 1300, 10]}]', "empty or inverted"),
        ("<ref>cat</ref><box>(1,2)</box>", "is not (x1,y1),(x2,y2)"),
        ("<|box_start|>(a,b),(c,d)<|box_end|>", "is not (x1,y1),(x2,y2)"),
    ],
)
def test_malformed_answers_give_no_box_and_a_logged_reason(answer: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vlforge.preannotate.parsing"):
        assert parse_grounding(answer, 640, 480) == []
    assert reason in caplog.text


def test_resized_absolute_needs_the_resized_size(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_grounding('[{"bbox_2d": [1, 2, 30, 40]}]', 640, 480, "resized_absolute") == []
    assert "resized image size" in caplog.text


def test_caption_loses_special_tokens_and_surrounding_space() -> None:
    assert clean_caption(" A ginger cat on a blue rug.<|im_end|>\n") == "A ginger cat on a blue rug."
    assert clean_caption("<|endoftext|>") == ""


def test_ocr_lines_are_read_from_tags_json_and_plain_text() -> None:
    tagged = parse_ocr_lines("<ref>HELLO</ref><box>(100,100),(500,500)</box>\nplain line<|im_end|>", 400, 300)
    assert [(line.text, _xyxy([line.box]) if line.box else None) for line in tagged] == [
        ("HELLO", [(40.0, 30.0, 200.0, 150.0)]),
        ("plain line", None),
    ]
    # Qwen2.5-VL: pixels of the 112x84 image the model saw, on a 448x336 original.
    answer = '```json\n[{"bbox_2d": [28, 21, 56, 42], "text_content": "HELLO"}, {"text_content": "no box"}, {"label": "x"}]\n```'
    lines = parse_ocr_lines(answer, 448, 336, "resized_absolute", (112, 84))
    assert [line.text for line in lines] == ["HELLO", "no box"]
    assert _xyxy([lines[0].box]) == [(112.0, 84.0, 224.0, 168.0)] and lines[1].box is None
    # Without the resized size the box cannot be placed: the line stays, without its box.
    (unplaced, _) = parse_ocr_lines(answer, 448, 336, "resized_absolute", None)
    assert unplaced.text == "HELLO" and unplaced.box is None
    assert [line.text for line in parse_ocr_lines("first\n\n second ", 10, 10)] == ["first", "second"]
    assert parse_ocr_lines("", 10, 10) == []
