"""Answers read in each generation's convention, and garbage read as nothing."""

from __future__ import annotations

import pytest

from vlforge.evaluate.model.answers import Frame, read_actions, read_boxes, read_intervals, read_ocr_lines, read_text

# A 400x300 photo, which Qwen2.5-VL's default resize makes 392x308.
PHOTO = Frame(400, 300, (392, 308))
# A 360x640 screen, resized to 364x644.
SCREEN = Frame(360, 640, (364, 644))


@pytest.mark.parametrize(
    ("generation", "answer", "expected"),
    [
        ("qwen_vl", "<ref>square</ref><box>(100,100),(500,500)</box>", (40, 30, 200, 150)),
        ("qwen3_vl", '```json\n[{"bbox_2d": [100, 100, 500, 500], "label": "square"}]\n```', (40, 30, 200, 150)),
        ("qwen2_5_vl", '[{"bbox_2d": [98, 77, 196, 154], "label": "square"}]', (100, 75, 200, 150)),
    ],
)
def test_boxes_are_read_in_the_generations_convention(generation: str, answer: str, expected: tuple[float, ...]) -> None:
    (box,) = read_boxes(answer, generation, PHOTO)  # type: ignore[arg-type]
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(expected)


@pytest.mark.parametrize("generation", ["qwen_vl", "qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("answer", ["", "I cannot see anything.", '[{"bbox_2d": [1, 2]}]', "<box>(a,b),(c,d)</box>", "{{{{"])
def test_garbage_yields_no_boxes_and_no_actions(generation: str, answer: str) -> None:
    assert read_boxes(answer, generation, PHOTO) == []  # type: ignore[arg-type]
    assert read_actions(answer, generation, SCREEN) == []  # type: ignore[arg-type]


def test_ocr_lines_in_each_form() -> None:
    tagged = read_ocr_lines("<ref>HELLO</ref><box>(100,100),(500,500)</box>\nno box here", "qwen_vl", PHOTO)
    assert [(line.text, line.box is not None) for line in tagged] == [("HELLO", True), ("no box here", False)]
    as_json = read_ocr_lines('[{"bbox_2d": [100, 100, 500, 500], "text_content": "HELLO"}, {"text_content": "bye"}]', "qwen3_vl", PHOTO)
    assert [line.text for line in as_json] == ["HELLO", "bye"] and as_json[0].box is not None and as_json[1].box is None
    assert as_json[0].box.x2 == pytest.approx(200)  # type: ignore[union-attr]
    plain = read_ocr_lines("first line\n\n second line <|im_end|>", "qwen2_5_vl", PHOTO)
    assert [line.text for line in plain] == ["first line", "second line"]


def test_tool_call_actions_are_read_in_pixels_of_the_screen() -> None:
    answer = (
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [300, 300]}}\n</tool_call>\n'
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "system_button", "button": "Back"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "type", "text": "hi"}}\n</tool_call>\n'
        "<tool_call>\nnot json\n</tool_call>"
    )
    click, back, typed = read_actions(answer, "qwen3_vl", SCREEN)
    assert click.type == "click" and click.point == pytest.approx((300 / 999 * 360, 300 / 999 * 640))
    assert (back.type, back.text, back.point) == ("key", "Back", None)
    assert (typed.type, typed.text) == ("type", "hi")
    (resized,) = read_actions('<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [182, 322]}}', "qwen2_5_vl", SCREEN)
    assert resized.point == pytest.approx((180, 320))  # 182 * 360 / 364, 322 * 640 / 644; an unclosed last call still counts
    (bad,) = read_actions('<tool_call>{"arguments": {"action": "click", "coordinate": ["x", 1]}}</tool_call>', "qwen3_vl", SCREEN)
    assert bad.point is None


def test_qwen_vl_actions_are_read_line_by_line() -> None:
    answer = 'click <ref>Settings</ref><box>(100,100),(500,500)</box>\ntype "hello \\"you\\""\nswipe up <box>(0,0),(1000,1000)</box>'
    click, typed, swipe = read_actions(answer, "qwen_vl", SCREEN)
    assert click.type == "click" and click.point == pytest.approx((108, 192))
    assert (typed.type, typed.text) == ("type", 'hello "you"')
    assert (swipe.type, swipe.text, swipe.point) == ("swipe", "up", pytest.approx((180, 320)))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Someone waves from 1.0s to 3.0s and leaves from 4.5s to 5.0s.", [(1.0, 3.0), (4.5, 5.0)]),
        ("It happens between 2 and 4 seconds.", [(2.0, 4.0)]),
        ("At 1.5-2.5s a door opens.", [(1.5, 2.5)]),
        ("From 1999 to 2001 nothing happened.", []),  # not seconds
        ("from 5s to 3s", []),  # ends before it starts
        ("garbage", []),
    ],
)
def test_event_times_are_read_as_spans_in_seconds(answer: str, expected: list[tuple[float, float]]) -> None:
    assert read_intervals(answer) == expected


def test_text_answers_lose_special_tokens() -> None:
    assert read_text(" A cat.<|im_end|>") == "A cat."
