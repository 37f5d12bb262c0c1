"""The Qwen2.5-VL / Qwen3-VL finetune JSON (``image`` + ``conversations``), checked value by value."""

from __future__ import annotations

import json
from collections.abc import Callable
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
    with_images,
)

from vlforge.config import Recipe
from vlforge.export.qwen_finetune import (
    export_qwen2_5_vl,
    export_qwen3_vl,
    qwen2_5_vl_coordinates,
    qwen3_vl_coordinates,
    record,
)
from vlforge.export.render import ExportError
from vlforge.records import Turn


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
            {"from": "human", "value": GROUNDING_PROMPT},
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
