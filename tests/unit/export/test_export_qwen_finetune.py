"""The Qwen2.5-VL / Qwen3-VL finetune JSON (``image`` + ``conversations``), checked value by value."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from export_samples import (
    CLIP,
    COCO,
    GROUNDING_PROMPT,
    GUI_INSTRUCTION,
    OCR_PROMPT,
    PHONE,
    SMALL,
    WIDE,
    caption_sample,
    grounding_sample,
    gui_sample,
    multi_image_sample,
    ocr_sample,
    path_of,
    system_sample,
    text_only_sample,
    video_path_of,
    video_sample,
    with_images,
)
from PIL import Image

from vlforge.config import Recipe
from vlforge.export.mobile_use import point_to_relative_999, qwen2_5_vl_points, qwen3_vl_points, relative_999_to_point
from vlforge.export.qwen_finetune import (
    export_qwen2_5_vl,
    export_qwen3_vl,
    qwen2_5_vl_coordinates,
    qwen3_vl_coordinates,
    record,
)
from vlforge.export.render import ExportError
from vlforge.geometry import smart_resize
from vlforge.records import Box, GuiAction, Turn


def qwen3(sample, recipe: Recipe) -> dict:  # type: ignore[no-untyped-def]
    return record(sample, recipe, qwen3_vl_coordinates, "../../images")


def qwen2_5(sample, recipe: Recipe) -> dict:  # type: ignore[no-untyped-def]
    return record(sample, recipe, qwen2_5_vl_coordinates(recipe.export.qwen2_5_vl_resize), "../../images")


def test_grounding_qwen3_vl(recipe: Recipe) -> None:
    # relative: 146/640*1000 = 228.1 -> 228, 137/428*1000 = 320.1 -> 320,
    # 615/640*1000 = 960.9 -> 961, 415/428*1000 = 969.6 -> 970
    assert qwen3(grounding_sample(), recipe) == {
        "id": "grounding-1",
        "image": path_of(COCO),
        "conversations": [
            {"from": "human", "value": "<image>\n" + GROUNDING_PROMPT},
            {"from": "gpt", "value": '[{"bbox_2d": [228, 320, 961, 970], "label": "bowl of carrots"}]'},
        ],
    }


def test_grounding_qwen2_5_vl(recipe: Recipe) -> None:
    # 640x428 -> smart_resize 644x420: 146*644/640 = 146.9 -> 147, 137*420/428 = 134.4 -> 134,
    # 615*644/640 = 618.8 -> 619, 415*420/428 = 407.2 -> 407
    result = qwen2_5(grounding_sample(), recipe)
    assert result["conversations"][1] == {
        "from": "gpt",
        "value": '[{"bbox_2d": [147, 134, 619, 407], "label": "bowl of carrots"}]',
    }
    assert result["conversations"][0] == {"from": "human", "value": "<image>\n" + GROUNDING_PROMPT}


def test_multi_image_keeps_tags_and_measures_box_on_its_own_image(recipe: Recipe) -> None:
    result = qwen3(multi_image_sample(), recipe)
    # the box lies on image 1 (200x100): 50/200*1000 = 250, 25/100*1000 = 250, 150/200*1000 = 750, 75/100*1000 = 750
    assert result == {
        "id": "multi-1",
        "image": [path_of(WIDE), path_of(SMALL)],
        "conversations": [
            {"from": "human", "value": "<image>\n<image>\nWhat changed between the two screens?"},
            {"from": "gpt", "value": "The dialog closed."},
            {"from": "human", "value": "Picture 2: " + GROUNDING_PROMPT},
            {"from": "gpt", "value": '[{"bbox_2d": [250, 250, 750, 750], "label": "dialog"}]'},
        ],
    }


def test_multi_image_qwen2_5_vl_resizes_each_image(recipe: Recipe) -> None:
    # image 1 is 200x100 -> smart_resize: 100/28 = 3.6 -> 112, 200/28 = 7.1 -> 196;
    # 50*196/200 = 49, 25*112/100 = 28, 150*196/200 = 147, 75*112/100 = 84
    result = qwen2_5(multi_image_sample(), recipe)
    assert result["conversations"][3]["value"] == '[{"bbox_2d": [49, 28, 147, 84], "label": "dialog"}]'


def test_ocr_lines_then_boxes(recipe: Recipe) -> None:
    result = qwen3(ocr_sample(), recipe)
    # 1000x500 page: SALE (100, 50, 500, 100) -> 100/1000*1000 = 100, 50/500*1000 = 100, 500, 100/500*1000 = 200
    assert result["conversations"] == [
        {"from": "human", "value": "<image>\n" + OCR_PROMPT},
        {"from": "gpt", "value": '[{"bbox_2d": [100, 100, 500, 200], "text_content": "SALE"}, {"text_content": "50% off"}]'},
        {"from": "human", "value": GROUNDING_PROMPT},
        {"from": "gpt", "value": '[{"bbox_2d": [0, 0, 1000, 1000], "label": "poster"}]'},
    ]


def test_ocr_qwen2_5_vl(recipe: Recipe) -> None:
    # 1000x500 -> smart_resize: 500/28 = 17.9 -> 504, 1000/28 = 35.7 -> 1008 (scale 1.008 both ways)
    # SALE: 100*1.008 = 100.8 -> 101, 50*1.008 = 50.4 -> 50, 500*1.008 = 504, 100*1.008 = 100.8 -> 101
    # poster: the far corner 1008, 504 is clamped to the last pixel 1007, 503
    result = qwen2_5(ocr_sample(), recipe)
    assert result["conversations"][1]["value"] == (
        '[{"bbox_2d": [101, 50, 504, 101], "text_content": "SALE"}, {"text_content": "50% off"}]'
    )
    assert result["conversations"][3]["value"] == '[{"bbox_2d": [0, 0, 1007, 503], "label": "poster"}]'


def test_caption_gets_image_tag_in_front_of_first_question(recipe: Recipe) -> None:
    assert qwen3(caption_sample(), recipe)["conversations"] == [
        {"from": "human", "value": "<image>\nDescribe this image."},
        {"from": "gpt", "value": "Carrots in a bowl, 胡萝卜."},
    ]


def test_text_only_sample_has_no_image_and_no_stray_newline(recipe: Recipe) -> None:
    result = qwen3(text_only_sample(), recipe)
    assert result == {
        "id": "text-1",
        "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}],
    }


def test_tag_count_must_equal_image_count(recipe: Recipe) -> None:
    one_tag_two_images = with_images(
        caption_sample().model_copy(
            update={
                "conversations": (
                    Turn(role="user", content="<image>Describe this image."),
                    Turn(role="assistant", content="Carrots."),
                )
            }
        ),
        COCO,
        WIDE,
    )
    with pytest.raises(ExportError, match="caption-1: 1 <image> tags for 2 images"):
        qwen3(one_tag_two_images, recipe)


def test_system_prompt_opens_the_first_human_turn(recipe: Recipe) -> None:
    # the official data_processor reads every "from" other than "human" as the assistant
    assert qwen3(system_sample(), recipe)["conversations"] == [
        {"from": "human", "value": "You are a kitchen assistant.\n\n<image>What is in the bowl?"},
        {"from": "gpt", "value": "Carrots."},
    ]


def test_roles_must_alternate(recipe: Recipe) -> None:
    sample = caption_sample().model_copy(
        update={"conversations": (Turn(role="user", content="A"), Turn(role="user", content="B"))}
    )
    with pytest.raises(ExportError, match="do not alternate"):
        qwen3(sample, recipe)


def test_records_have_the_structure_of_the_official_demo(fixtures_dir: Path, recipe: Recipe) -> None:
    demo = json.loads((fixtures_dir / "qwen3vl_finetune/demo/single_images.json").read_text(encoding="utf-8"))
    demo_keys = {key for entry in demo for key in entry}
    assert demo_keys == {"image", "conversations"}
    for sample in (grounding_sample(), caption_sample(), ocr_sample()):
        result = qwen3(sample, recipe)
        assert set(result) - demo_keys == {"id"}
        assert isinstance(result["image"], str)
        for entry in demo:
            assert [set(turn) for turn in result["conversations"][:2]] == [set(turn) for turn in entry["conversations"]]
        assert {turn["from"] for turn in result["conversations"]} == {
            turn["from"] for entry in demo for turn in entry["conversations"]
        }
        text = "".join(turn["value"] for turn in result["conversations"])
        assert text.count("<image>") == 1  # one image, one tag, as in every demo entry
    for entry in demo:
        text = "".join(turn["value"] for turn in entry["conversations"])
        assert text.count("<image>") == 1


@pytest.mark.parametrize(
    ("export", "first_box"), [(export_qwen3_vl, [228, 320, 961, 970]), (export_qwen2_5_vl, [147, 134, 619, 407])]
)
def test_export_writes_one_json_list(
    tmp_path: Path, recipe: Recipe, export: Callable[..., list[Path]], first_box: list[int]
) -> None:
    files = export([grounding_sample(), multi_image_sample()], tmp_path / "out", "ds", recipe)
    assert files == [tmp_path / "out/ds.json"]
    written = json.loads(files[0].read_text(encoding="utf-8"))
    assert [item["id"] for item in written] == ["grounding-1", "multi-1"]
    assert json.loads(written[0]["conversations"][1]["value"]) == [{"bbox_2d": first_box, "label": "bowl of carrots"}]
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["ds.json"]  # no temporary file left


@pytest.mark.parametrize("image_index", [1, -1])
def test_box_on_a_missing_image_is_refused(recipe: Recipe, image_index: int) -> None:
    sample = grounding_sample()
    sample = sample.model_copy(update={"boxes": (sample.boxes[0].model_copy(update={"image_index": image_index}),)})
    with pytest.raises(ExportError, match=f"'bowl of carrots' is on image_index {image_index}, but the sample has 1 images"):
        qwen3(sample, recipe)


# --- GUI actions: the mobile_use tool calls of the Qwen mobile-agent cookbooks --------------------------------


def tool_call(arguments: dict) -> str:  # type: ignore[type-arg]
    return "<tool_call>\n" + json.dumps({"name": "mobile_use", "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def parse_tool_call(value: str) -> dict:  # type: ignore[type-arg]
    assert value.startswith("<tool_call>\n") and value.endswith("\n</tool_call>")
    return json.loads(value.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))


def qwen2_5_gui(sample, recipe: Recipe) -> dict:  # type: ignore[no-untyped-def]
    resize = recipe.export.qwen2_5_vl_resize
    return record(sample, recipe, qwen2_5_vl_coordinates(resize), "../../images", qwen2_5_vl_points(resize))


def qwen3_gui(sample, recipe: Recipe) -> dict:  # type: ignore[no-untyped-def]
    return record(sample, recipe, qwen3_vl_coordinates, "../../images", qwen3_vl_points)


def test_cookbook_screenshot_is_addressed_as_1092x2408(fixtures_dir: Path, recipe: Recipe) -> None:
    screenshot = fixtures_dir / "qwen25vl_cookbook_gui/assets/agent_function_call/mobile_en_example.png"
    with Image.open(screenshot) as image:
        assert image.size == (PHONE.width, PHONE.height) == (1080, 2400)
    resize = recipe.export.qwen2_5_vl_resize
    # 2400 / 28 = 85.7 -> 86 * 28 = 2408; 1080 / 28 = 38.6 -> 39 * 28 = 1092, as the cookbook's tool declares
    assert smart_resize(2400, 1080, resize.factor, resize.min_pixels, resize.max_pixels) == (2408, 1092)


def test_gui_click_qwen2_5_vl_is_the_cookbook_answer(recipe: Recipe) -> None:
    # box centre (925, 405) -> 925 * 1092 / 1080 = 935.3 -> 935, 405 * 2408 / 2400 = 406.4 -> 406
    assert qwen2_5_gui(gui_sample(), recipe) == {
        "id": "gui-1",
        "image": path_of(PHONE),
        "conversations": [
            {"from": "human", "value": "<image>\n" + GUI_INSTRUCTION},
            {
                "from": "gpt",
                "value": '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [935, 406]}}\n'
                "</tool_call>",
            },
        ],
    }


def test_gui_click_qwen3_vl_is_relative_0_999(recipe: Recipe) -> None:
    # Qwen3-VL cookbook: rescale_coordinates = round(v / 999 * size), so 925 / 1080 * 999 = 855.6 -> 856,
    # 405 / 2400 * 999 = 168.6 -> 169
    result = qwen3_gui(gui_sample(), recipe)
    assert result["conversations"][1] == {"from": "gpt", "value": tool_call({"action": "click", "coordinate": [856, 169]})}


def test_qwen3_vl_points_read_back_within_a_grid_step() -> None:
    # The cookbook's rescale: 856 / 999 * 1080 = 925.4, 169 / 999 * 2400 = 406.0 (925, 405 before rounding).
    assert relative_999_to_point((856, 169), 1080, 2400) == pytest.approx((925.4054, 406.0060), abs=1e-4)
    for point in [(0.0, 0.0), (925.0, 405.0), (1080.0, 2400.0)]:
        back = relative_999_to_point(tuple(point_to_relative_999(point, 1080, 2400)), 1080, 2400)  # type: ignore[arg-type]
        assert abs(back[0] - point[0]) <= 1080 / 999 / 2 and abs(back[1] - point[1]) <= 2400 / 999 / 2


@pytest.mark.parametrize(
    ("action", "arguments"),
    [
        # 540 * 1092 / 1080 = 546, 1200 * 2408 / 2400 = 1204
        (GuiAction(type="click", point=(540, 1200)), {"action": "click", "coordinate": [546, 1204]}),
        (GuiAction(type="long_press", point=(540, 1200)), {"action": "long_press", "coordinate": [546, 1204], "time": 2}),
        (GuiAction(type="long_press", point=(540, 1200), text="3"), {"action": "long_press", "coordinate": [546, 1204], "time": 3}),
        # swipe up inside the list (0, 1000)-(1080, 1400) from (540, 1200) to (540, 1000): 1000 * 2408 / 2400 = 1003.3 -> 1003
        (
            GuiAction(type="swipe", point=(540, 1200), box=Box(x1=0, y1=1000, x2=1080, y2=1400), text="up"),
            {"action": "swipe", "coordinate": [546, 1204], "coordinate2": [546, 1003]},
        ),
        # swipe right ends at x2 = 1080 -> 1092, clamped to the last pixel 1091
        (
            GuiAction(type="swipe", point=(540, 1200), box=Box(x1=0, y1=1000, x2=1080, y2=1400), text="Right"),
            {"action": "swipe", "coordinate": [546, 1204], "coordinate2": [1091, 1204]},
        ),
        (GuiAction(type="type", text="hello, 世界"), {"action": "type", "text": "hello, 世界"}),
        (GuiAction(type="key", text="volume_up"), {"action": "key", "text": "volume_up"}),
        (GuiAction(type="key", text="Back"), {"action": "system_button", "button": "Back"}),
        (GuiAction(type="key", text="home"), {"action": "system_button", "button": "Home"}),
        (GuiAction(type="key", text="ENTER"), {"action": "system_button", "button": "Enter"}),
        (GuiAction(type="open", text="File Manager"), {"action": "open", "text": "File Manager"}),
        (GuiAction(type="wait"), {"action": "wait", "time": 2}),
        (GuiAction(type="wait", text="1.5"), {"action": "wait", "time": 1.5}),
        (GuiAction(type="terminate"), {"action": "terminate", "status": "success"}),
        (GuiAction(type="terminate", text="failure"), {"action": "terminate", "status": "failure"}),
    ],
)
def test_every_action_type_qwen2_5_vl(recipe: Recipe, action: GuiAction, arguments: dict) -> None:  # type: ignore[type-arg]
    result = qwen2_5_gui(gui_sample(action), recipe)
    assert result["conversations"][1] == {"from": "gpt", "value": tool_call(arguments)}
    call = parse_tool_call(result["conversations"][1]["value"])
    assert call["name"] == "mobile_use"
    assert call["arguments"]["action"] in COOKBOOK_ACTIONS


# The enum of the cookbook's mobile_use tool (cookbooks/mobile_agent.ipynb, MobileUse.parameters).
COOKBOOK_ACTIONS = {"key", "click", "long_press", "swipe", "type", "system_button", "open", "wait", "terminate"}


def test_points_are_clamped_to_the_screen(recipe: Recipe) -> None:
    corner = gui_sample(GuiAction(type="click", point=(1080, 2400)))
    # 1080 * 1092 / 1080 = 1092 -> the last pixel 1091, 2400 -> 2407; Qwen3-VL 1080 / 1080 * 999 = 999
    assert parse_tool_call(qwen2_5_gui(corner, recipe)["conversations"][1]["value"])["arguments"]["coordinate"] == [1091, 2407]
    assert parse_tool_call(qwen3_gui(corner, recipe)["conversations"][1]["value"])["arguments"]["coordinate"] == [999, 999]


def test_several_actions_and_a_thought(recipe: Recipe) -> None:
    sample = gui_sample(GuiAction(type="open", text="File Manager"), GuiAction(type="click", point=(540, 1200)))
    sample = sample.model_copy(
        update={"conversations": (*sample.conversations, Turn(role="assistant", content="Thought: open the app, then the list."))}
    )
    # Qwen3-VL: 540 / 1080 * 999 = 499.5 -> 500 (round half to even), 1200 / 2400 * 999 = 499.5 -> 500
    assert qwen3_gui(sample, recipe)["conversations"][1]["value"] == (
        "Thought: open the app, then the list.\n"
        + tool_call({"action": "open", "text": "File Manager"})
        + "\n"
        + tool_call({"action": "click", "coordinate": [500, 500]})
    )


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (GuiAction(type="scroll", point=(540, 1200), text="down"), "action type 'scroll' has no mobile_use form"),
        (GuiAction(type="swipe", point=(540, 1200), text="up"), "a swipe needs a direction"),
        (GuiAction(type="swipe", point=(540, 1200), box=Box(x1=0, y1=0, x2=10, y2=10), text="away"), "a swipe needs"),
        (GuiAction(type="click"), "click has neither a point nor a box"),
        (GuiAction(type="type"), "type has no text"),
        (GuiAction(type="wait", text="soon"), "wait text 'soon' is not a number of seconds"),
        (GuiAction(type="terminate", text="done"), "terminate status 'done' is not success or failure"),
    ],
)
def test_actions_without_a_mobile_use_form_are_refused(recipe: Recipe, action: GuiAction, message: str) -> None:
    with pytest.raises(ExportError, match=f"gui-1: {message}"):
        qwen2_5_gui(gui_sample(action), recipe)


def test_gui_sample_without_instruction_or_points_is_refused(recipe: Recipe) -> None:
    with pytest.raises(ExportError, match="gui-1: 1 GUI actions but no user instruction"):
        qwen3_gui(gui_sample().model_copy(update={"conversations": ()}), recipe)
    with pytest.raises(ExportError, match="gui-1: has GUI actions, but no point convention"):
        qwen3(gui_sample(), recipe)


@pytest.mark.parametrize(("export", "coordinate"), [(export_qwen2_5_vl, [935, 406]), (export_qwen3_vl, [856, 169])])
def test_export_renders_gui_actions(
    tmp_path: Path, recipe: Recipe, export: Callable[..., list[Path]], coordinate: list[int]
) -> None:
    (path,) = export([gui_sample()], tmp_path, "ds", recipe)
    (written,) = json.loads(path.read_text(encoding="utf-8"))
    assert written["conversations"][1]["value"] == tool_call({"action": "click", "coordinate": coordinate})


def test_video_record_has_the_structure_of_the_official_video_demo(fixtures_dir: Path, recipe: Recipe) -> None:
    demo = json.loads((fixtures_dir / "qwen3vl_finetune/demo/video.json").read_text(encoding="utf-8"))
    demo_keys = {key for entry in demo for key in entry}
    assert demo_keys == {"video", "conversations"}
    for entry in demo:  # one path as a string, one <video> tag in the human turn
        assert isinstance(entry["video"], str)
        assert [turn["value"].count("<video>") for turn in entry["conversations"]] == [1, 0]
    for make in (qwen3, qwen2_5):
        result = make(video_sample(), recipe)
        assert result == {
            "id": "video-1",
            "video": video_path_of(CLIP),
            "conversations": [
                {"from": "human", "value": "<video>What's in the video?"},
                {"from": "gpt", "value": "A baby is playing in the living room."},
            ],
        }
        assert set(result) - demo_keys == {"id"}
        assert [set(turn) for turn in result["conversations"]] == [set(turn) for turn in demo[0]["conversations"]]


def test_several_videos_and_an_image_are_lists_and_tags_in_order(recipe: Recipe) -> None:
    second = CLIP.model_copy(update={"sha256": "9" * 64, "format": "avi"})
    sample = video_sample().model_copy(
        update={
            "images": (COCO,),
            "videos": (CLIP, second),
            "conversations": (
                Turn(role="user", content="<image>Here is the room. <video><video>What happens?"),
                Turn(role="assistant", content="A baby plays."),
            ),
        }
    )
    result = qwen3(sample, recipe)
    assert (result["image"], result["video"]) == (path_of(COCO), [video_path_of(CLIP), video_path_of(second)])
    assert list(result) == ["id", "image", "video", "conversations"]


def test_video_tags_must_match_the_videos(recipe: Recipe) -> None:
    untagged_turns = (Turn(role="user", content="What happens?"), Turn(role="assistant", content="A baby plays."))
    added = qwen3(video_sample().model_copy(update={"conversations": untagged_turns}), recipe)
    assert added["conversations"][0]["value"] == "<video>\nWhat happens?"
    doubled = (Turn(role="user", content="<video>What happens? <video>"), Turn(role="assistant", content="A baby plays."))
    with pytest.raises(ExportError, match="video-1: 2 <video> tags for 1 videos"):
        qwen3(video_sample().model_copy(update={"conversations": doubled}), recipe)
