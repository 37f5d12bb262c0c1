"""Qwen-VL (first generation) JSON Lines: ``Picture N: <img>path</img>`` and ``<ref>..</ref><box>(x1,y1),(x2,y2)</box>``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_samples import (
    COCO,
    GROUNDING_PROMPT,
    OCR_PROMPT,
    SMALL,
    WIDE,
    caption_sample,
    grounding_sample,
    multi_image_sample,
    ocr_sample,
    path_of,
    system_sample,
    text_only_sample,
)

from vlforge.config import Recipe
from vlforge.export.qwen_vl_chatml import export, record
from vlforge.export.render import ExportError
from vlforge.records import Turn


def test_grounding_record(recipe: Recipe) -> None:
    # [0, 1000) floor: 146/640*1000 = 228.1 -> 228, 137/428*1000 = 320.1 -> 320,
    # 615/640*1000 = 960.9 -> 960, 415/428*1000 = 969.6 -> 969
    assert record(grounding_sample(), recipe, "../../images") == {
        "id": "grounding-1",
        "conversations": [
            {"from": "user", "value": f"Picture 1: <img>{path_of(COCO)}</img>\n{GROUNDING_PROMPT}"},
            {"from": "assistant", "value": "<ref>bowl of carrots</ref><box>(228,320),(960,969)</box>"},
        ],
    }


def test_multi_image_record_numbers_pictures(recipe: Recipe) -> None:
    # the box lies on picture 2 (200x100): 50/200*1000 = 250, 25/100*1000 = 250, 150/200*1000 = 750, 75/100*1000 = 750
    assert record(multi_image_sample(), recipe, "../../images") == {
        "id": "multi-1",
        "conversations": [
            {
                "from": "user",
                "value": (
                    f"Picture 1: <img>{path_of(WIDE)}</img>\n"
                    f"Picture 2: <img>{path_of(SMALL)}</img>\n"
                    "What changed between the two screens?"
                ),
            },
            {"from": "assistant", "value": "The dialog closed."},
            {"from": "user", "value": "Picture 2: " + GROUNDING_PROMPT},
            {"from": "assistant", "value": "<ref>dialog</ref><box>(250,250),(750,750)</box>"},
        ],
    }


def test_ocr_record(recipe: Recipe) -> None:
    # 1000x500 page: SALE (100, 50, 500, 100) -> (100,100),(500,200); the whole page (0, 0, 1000, 500) -> (0,0),(999,999)
    assert record(ocr_sample(), recipe, "../../images")["conversations"] == [
        {"from": "user", "value": f"Picture 1: <img>{path_of(WIDE)}</img>\n{OCR_PROMPT}"},
        {"from": "assistant", "value": "<ref>SALE</ref><box>(100,100),(500,200)</box>\n50% off"},
        {"from": "user", "value": GROUNDING_PROMPT},
        {"from": "assistant", "value": "<ref>poster</ref><box>(0,0),(999,999)</box>"},
    ]


def test_caption_record(recipe: Recipe) -> None:
    assert record(caption_sample(), recipe, "../../images")["conversations"] == [
        {"from": "user", "value": f"Picture 1: <img>{path_of(COCO)}</img>\nDescribe this image."},
        {"from": "assistant", "value": "Carrots in a bowl, 胡萝卜."},
    ]


def test_tag_inside_text_becomes_a_picture_in_place(recipe: Recipe) -> None:
    sample = caption_sample().model_copy(
        update={
            "conversations": (
                Turn(role="user", content="Look: <image>What is it?"),
                Turn(role="assistant", content="Carrots."),
            )
        }
    )
    assert record(sample, recipe, "../../images")["conversations"][0] == {
        "from": "user",
        "value": f"Look: Picture 1: <img>{path_of(COCO)}</img>\nWhat is it?",
    }


def test_text_only_record_is_left_as_it_is(recipe: Recipe) -> None:
    assert record(text_only_sample(), recipe, "../../images") == {
        "id": "text-1",
        "conversations": [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Hello"}],
    }


def test_more_tags_than_images_is_refused(recipe: Recipe) -> None:
    sample = caption_sample().model_copy(
        update={
            "conversations": (
                Turn(role="user", content="<image><image>Describe."),
                Turn(role="assistant", content="Carrots."),
            )
        }
    )
    with pytest.raises(ExportError, match="caption-1: 2 <image> tags for 1 images"):
        record(sample, recipe, "../../images")


def test_fewer_tags_than_images_is_refused(recipe: Recipe) -> None:
    sample = caption_sample().model_copy(
        update={
            "images": (COCO, WIDE),
            "conversations": (Turn(role="user", content="<image>Describe."), Turn(role="assistant", content="Carrots.")),
        }
    )
    with pytest.raises(ExportError, match="caption-1: 1 <image> tags for 2 images"):
        record(sample, recipe, "../../images")


def test_system_prompt_opens_the_first_user_turn(recipe: Recipe) -> None:
    # Qwen-VL's finetune.py knows only "user" and "assistant" and uses one fixed system message
    (user, assistant) = record(system_sample(), recipe, "../../images")["conversations"]
    assert user["value"].startswith("You are a kitchen assistant.\n\nPicture 1: <img>../../images/")
    assert assistant == {"from": "assistant", "value": "Carrots."}


def test_export_writes_json_lines(tmp_path: Path, recipe: Recipe) -> None:
    folder = tmp_path / "qwen_vl_chatml"
    files = export([grounding_sample(), caption_sample()], folder, "ds", recipe)
    assert files == [folder / "ds.jsonl"]
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        record(grounding_sample(), recipe, "../../images"),
        record(caption_sample(), recipe, "../../images"),
    ]
    assert "胡萝卜" in lines[1]  # written as UTF-8, not escaped
    assert [path.name for path in folder.iterdir()] == ["ds.jsonl"]
