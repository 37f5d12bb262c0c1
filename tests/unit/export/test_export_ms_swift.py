"""ms-swift JSON Lines: ``messages`` + ``images``, boxes as ``<ref-object><bbox>`` with ``objects`` (bbox_type real)."""

from __future__ import annotations

import json
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
    video_path_of,
    video_sample,
)

from vlforge.config import Recipe
from vlforge.export.ms_swift import export, record
from vlforge.export.render import ExportError
from vlforge.records import Turn


def test_grounding_record_keeps_real_pixels(recipe: Recipe) -> None:
    assert record(grounding_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<image>\n" + GROUNDING_PROMPT},
            {"role": "assistant", "content": "<ref-object><bbox>"},
        ],
        "images": [path_of(COCO)],
        "objects": {"ref": ["bowl of carrots"], "bbox": [[146.0, 137.0, 615.0, 415.0]], "bbox_type": "real"},
    }


def test_multi_image_record_says_which_image_a_box_is_on(recipe: Recipe) -> None:
    assert record(multi_image_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<image>\n<image>\nWhat changed between the two screens?"},
            {"role": "assistant", "content": "The dialog closed."},
            {"role": "user", "content": "Picture 2: " + GROUNDING_PROMPT},
            {"role": "assistant", "content": "<ref-object><bbox>"},
        ],
        "images": [path_of(WIDE), path_of(SMALL)],
        "objects": {"ref": ["dialog"], "bbox": [[50.0, 25.0, 150.0, 75.0]], "bbox_type": "real", "image_id": [1]},
    }


def test_ocr_lines_then_boxes_fill_objects_in_text_order(recipe: Recipe) -> None:
    result = record(ocr_sample(), recipe, "../../images")
    assert result["messages"] == [
        {"role": "user", "content": "<image>\n" + OCR_PROMPT},
        {"role": "assistant", "content": "<ref-object><bbox>\n50% off"},
        {"role": "user", "content": GROUNDING_PROMPT},
        {"role": "assistant", "content": "<ref-object><bbox>"},
    ]
    assert result["objects"] == {
        "ref": ["SALE", "poster"],
        "bbox": [[100.0, 50.0, 500.0, 100.0], [0.0, 0.0, 1000.0, 500.0]],
        "bbox_type": "real",
    }


def test_system_turn_stays_a_message_and_no_boxes_no_objects(recipe: Recipe) -> None:
    assert record(system_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "system", "content": "You are a kitchen assistant."},
            {"role": "user", "content": "<image>What is in the bowl?"},
            {"role": "assistant", "content": "Carrots."},
        ],
        "images": [path_of(COCO)],
    }


def test_gui_actions_are_qwen3_vl_mobile_use_calls(recipe: Recipe) -> None:
    # box centre (925, 405) on 1080x2400: 925 / 1080 * 999 = 855.6 -> 856, 405 / 2400 * 999 = 168.6 -> 169
    assert record(gui_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<image>\n" + GUI_INSTRUCTION},
            {
                "role": "assistant",
                "content": '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [856, 169]}}'
                "\n</tool_call>",
            },
        ],
        "images": [path_of(PHONE)],
    }


def test_placeholder_in_the_annotators_text_is_refused(recipe: Recipe) -> None:
    sample = grounding_sample().model_copy(
        update={"conversations": (Turn(role="user", content="What is <bbox>?"), Turn(role="assistant", content="A tag."))}
    )
    with pytest.raises(ExportError, match="grounding-1: 2 <bbox> placeholders for 1 objects.bbox"):
        record(sample, recipe, "../../images")


def test_records_have_the_structure_of_the_docs_examples(fixtures_dir: Path, recipe: Recipe) -> None:
    lines = (fixtures_dir / "ms_swift/grounding_examples_from_docs.jsonl").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines]
    with_objects = [example for example in examples if "objects" in example]
    assert len(with_objects) == 4
    doc_keys = {key for example in examples for key in example}
    doc_message_keys = {key for example in examples for message in example["messages"] for key in message}
    doc_roles = {message["role"] for example in examples for message in example["messages"]}
    doc_object_keys = {key for example in with_objects for key in example["objects"]}
    assert doc_object_keys == {"ref", "bbox"}
    for example in with_objects:  # the rule ms-swift applies: each <bbox> takes the next box
        text = "".join(message["content"] for message in example["messages"])
        assert text.count("<bbox>") == len(example["objects"]["bbox"])
        assert text.count("<image>") == len(example["images"])
    for sample in (grounding_sample(), multi_image_sample(), ocr_sample(), system_sample(), caption_sample()):
        result = record(sample, recipe, "../../images")
        assert set(result) <= doc_keys == {"messages", "images", "objects"}
        assert {key for message in result["messages"] for key in message} == doc_message_keys
        assert {message["role"] for message in result["messages"]} <= doc_roles
        text = "".join(message["content"] for message in result["messages"])
        assert text.count("<image>") == len(result["images"])
        if "objects" in result:
            # bbox_type and image_id are the documented optional keys (Custom-dataset.md, Grounding)
            assert set(result["objects"]) - doc_object_keys <= {"bbox_type", "image_id"}
            assert text.count("<bbox>") == len(result["objects"]["bbox"]) == text.count("<ref-object>")
            assert all(len(box) == 4 for box in result["objects"]["bbox"])


def test_export_writes_json_lines(tmp_path: Path, recipe: Recipe) -> None:
    folder = tmp_path / "ms_swift"
    files = export([grounding_sample(), caption_sample()], folder, "ds", recipe)
    assert files == [folder / "ds.jsonl", folder / "ds_qwen2_5_vl.jsonl", folder / "ds_qwen3_vl.jsonl"]
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        record(grounding_sample(), recipe, "../../images"),
        record(caption_sample(), recipe, "../../images"),
    ]
    assert "胡萝卜" in lines[1]
    for path in files[1:]:  # the JSON answers of Qwen2.5-VL and Qwen3-VL, for QWENVL_BBOX_FORMAT=new
        assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["messages"][1] == {
            "role": "assistant", "content": '[{"bbox_2d": <bbox>, "label": "bowl of carrots"}]'
        }
    assert sorted(path.name for path in folder.iterdir()) == ["ds.jsonl", "ds_qwen2_5_vl.jsonl", "ds_qwen3_vl.jsonl"]


def test_video_record_uses_the_videos_key(recipe: Recipe) -> None:
    assert record(video_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<video>What's in the video?"},
            {"role": "assistant", "content": "A baby is playing in the living room."},
        ],
        "images": [],
        "videos": [video_path_of(CLIP)],
    }


def test_video_tags_must_match_the_videos(recipe: Recipe) -> None:
    doubled = video_sample().model_copy(
        update={"conversations": (Turn(role="user", content="<video><video>Compare."), Turn(role="assistant", content="Same."))}
    )
    with pytest.raises(ExportError, match="video-1: 2 <video> tags for 1 videos"):
        record(doubled, recipe, "../../images")
