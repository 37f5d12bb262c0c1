"""LLaMA-Factory sharegpt records (``messages`` + ``images``) and their ``dataset_info.json`` entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_samples import (
    CLIP,
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
    video_path_of,
    video_sample,
)

from vlforge.config import Recipe
from vlforge.export.llamafactory import dataset_info_entry, export, export_splits, record
from vlforge.export.qwen_finetune import model_convention
from vlforge.ingest import ingest_source
from vlforge.export.render import ExportError
from vlforge.records import Turn
from vlforge.store import ImageStore


def test_grounding_record(recipe: Recipe) -> None:
    # Qwen2-VL/Qwen3-VL relative boxes: 146/640*1000 = 228.1 -> 228, 137/428*1000 = 320.1 -> 320,
    # 615/640*1000 = 960.9 -> 961, 415/428*1000 = 969.6 -> 970
    assert record(grounding_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<image>\n" + GROUNDING_PROMPT},
            {"role": "assistant", "content": '[{"bbox_2d": [228, 320, 961, 970], "label": "bowl of carrots"}]'},
        ],
        "images": [path_of(COCO)],
    }


def test_multi_image_record(recipe: Recipe) -> None:
    # the box lies on image 1 (200x100): 50/200*1000, 25/100*1000, 150/200*1000, 75/100*1000; the
    # question names its picture, since a box answer alone does not say which picture it is on
    result = record(multi_image_sample(), recipe, "../../images")
    assert result == {
        "messages": [
            {"role": "user", "content": "<image>\n<image>\nWhat changed between the two screens?"},
            {"role": "assistant", "content": "The dialog closed."},
            {"role": "user", "content": "Picture 2: " + GROUNDING_PROMPT},
            {"role": "assistant", "content": '[{"bbox_2d": [250, 250, 750, 750], "label": "dialog"}]'},
        ],
        "images": [path_of(WIDE), path_of(SMALL)],
    }
    text = "".join(message["content"] for message in result["messages"])
    assert text.count("<image>") == len(result["images"]) == 2


def test_ocr_record(recipe: Recipe) -> None:
    result = record(ocr_sample(), recipe, "../../images")
    assert result["messages"][:2] == [
        {"role": "user", "content": "<image>\n" + OCR_PROMPT},
        {
            "role": "assistant",
            "content": '[{"bbox_2d": [100, 100, 500, 200], "text_content": "SALE"}, {"text_content": "50% off"}]',
        },
    ]


def test_system_turn_goes_to_the_system_column(recipe: Recipe) -> None:
    assert record(system_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<image>What is in the bowl?"},
            {"role": "assistant", "content": "Carrots."},
        ],
        "images": [path_of(COCO)],
        "system": "You are a kitchen assistant.",
    }


def test_text_only_record_is_left_as_it_is(recipe: Recipe) -> None:
    assert record(text_only_sample(), recipe, "../../images") == {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "images": [],
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


def test_conversation_must_end_with_the_assistant(recipe: Recipe) -> None:
    sample = caption_sample().model_copy(update={"conversations": (Turn(role="user", content="Describe."),)})
    with pytest.raises(ExportError, match="do not alternate user/assistant"):
        record(sample, recipe, "../../images")


def test_dataset_info_entry_has_the_shape_of_mllm_demo(fixtures_dir: Path) -> None:
    reference = json.loads((fixtures_dir / "llamafactory/data/dataset_info.json").read_text(encoding="utf-8"))
    mllm_demo = reference["mllm_demo"]
    entry = dataset_info_entry("release.json", with_system=False)
    assert entry == mllm_demo | {"file_name": "release.json"}
    with_system = dataset_info_entry("release.json", with_system=True)
    assert set(with_system) == set(mllm_demo)
    assert with_system["columns"] == mllm_demo["columns"] | {"system": "system"}
    assert with_system["tags"] == mllm_demo["tags"]


def test_records_have_the_shape_of_mllm_demo(fixtures_dir: Path, recipe: Recipe) -> None:
    demo = json.loads((fixtures_dir / "llamafactory/data/mllm_demo.json").read_text(encoding="utf-8"))
    demo_message_keys = {key for entry in demo for message in entry["messages"] for key in message}
    demo_roles = {message["role"] for entry in demo for message in entry["messages"]}
    for entry in demo:  # the consumer's rule, which the demo itself keeps
        assert sum(message["content"].count("<image>") for message in entry["messages"]) == len(entry["images"])
    for sample in (grounding_sample(), multi_image_sample(), caption_sample(), ocr_sample()):
        result = record(sample, recipe, "../../images")
        assert set(result) == {"messages", "images"}
        assert {key for message in result["messages"] for key in message} == demo_message_keys
        assert {message["role"] for message in result["messages"]} == demo_roles
        assert sum(message["content"].count("<image>") for message in result["messages"]) == len(result["images"])


def relative_boxes_only(recipe: Recipe) -> Recipe:
    """The recipe without Qwen2.5-VL among its targets: one file per split, 0-1000 boxes."""
    return recipe.model_copy(update={"export": recipe.export.model_copy(update={"target_models": ("qwen2_vl", "qwen3_vl")})})


def test_export_writes_data_and_dataset_info(tmp_path: Path, recipe: Recipe) -> None:
    folder = tmp_path / "llamafactory"
    files = export([grounding_sample(), system_sample()], folder, "vlforge_v1", recipe)
    assert files == [folder / "vlforge_v1.json", folder / "vlforge_v1_qwen2_5_vl.json", folder / "dataset_info.json"]
    data = json.loads(files[0].read_text(encoding="utf-8"))
    assert data == [record(grounding_sample(), recipe, "../../images"), record(system_sample(), recipe, "../../images")]
    resized = json.loads(files[1].read_text(encoding="utf-8"))
    qwen2_5_vl = model_convention("qwen2_5_vl", recipe.export.qwen2_5_vl_resize)
    assert resized == [record(sample, recipe, "../../images", convention=qwen2_5_vl) for sample in (grounding_sample(), system_sample())]
    assert resized[0]["messages"][1]["content"] != data[0]["messages"][1]["content"]  # pixels, not 0-1000
    info = json.loads(files[2].read_text(encoding="utf-8"))
    assert info == {
        "vlforge_v1": dataset_info_entry("vlforge_v1.json", with_system=True),
        "vlforge_v1_qwen2_5_vl": dataset_info_entry("vlforge_v1_qwen2_5_vl.json", with_system=True),
    }
    assert sorted(path.name for path in folder.iterdir()) == ["dataset_info.json", "vlforge_v1.json", "vlforge_v1_qwen2_5_vl.json"]
    only_relative = export([grounding_sample()], tmp_path / "relative", "ds", relative_boxes_only(recipe))
    assert [path.name for path in only_relative] == ["ds.json", "dataset_info.json"]


def test_export_without_system_registers_no_system_column(tmp_path: Path, recipe: Recipe) -> None:
    files = export([caption_sample()], tmp_path, "ds", relative_boxes_only(recipe))
    info = json.loads(files[1].read_text(encoding="utf-8"))
    assert info["ds"]["columns"] == {"messages": "messages", "images": "images"}


def test_video_record(recipe: Recipe) -> None:
    assert record(video_sample(), recipe, "../../images") == {
        "messages": [
            {"role": "user", "content": "<video>What's in the video?"},
            {"role": "assistant", "content": "A baby is playing in the living room."},
        ],
        "images": [],
        "videos": [video_path_of(CLIP)],
    }


def test_video_without_a_tag_gets_one_before_the_first_question(recipe: Recipe) -> None:
    untagged = video_sample().model_copy(
        update={"conversations": (Turn(role="user", content="What's in the video?"), Turn(role="assistant", content="A baby."))}
    )
    assert record(untagged, recipe, "../../images")["messages"][0] == {"role": "user", "content": "<video>\nWhat's in the video?"}


def test_more_video_tags_than_videos_is_refused(recipe: Recipe) -> None:
    doubled = video_sample().model_copy(
        update={"conversations": (Turn(role="user", content="<video><video>Compare."), Turn(role="assistant", content="Same."))}
    )
    with pytest.raises(ExportError, match="video-1: 2 <video> tags for 1 videos"):
        record(doubled, recipe, "../../images")


def test_video_export_has_the_shape_of_mllm_video_demo(fixtures_dir: Path, tmp_path: Path, recipe: Recipe) -> None:
    data_dir = fixtures_dir / "llamafactory/data"
    reference = json.loads((data_dir / "dataset_info.json").read_text(encoding="utf-8"))["mllm_video_demo"]
    demo = json.loads((data_dir / "mllm_video_demo.json").read_text(encoding="utf-8"))
    data_path, info_path = export([video_sample()], tmp_path, "clips", relative_boxes_only(recipe))
    info = json.loads(info_path.read_text(encoding="utf-8"))
    assert info == {"clips": reference | {"file_name": "clips.json"}}
    assert dataset_info_entry("x.json", with_system=False, with_images=False, with_videos=True) == reference | {"file_name": "x.json"}
    records = json.loads(data_path.read_text(encoding="utf-8"))
    assert {key for entry in records for key in entry} == {key for entry in demo for key in entry} == {"messages", "videos"}
    assert {key for entry in records for message in entry["messages"] for key in message} == {
        key for entry in demo for message in entry["messages"] for key in message
    }
    for entry in [*demo, *records]:  # the consumer's rule, which the demo itself keeps
        assert sum(message["content"].count("<video>") for message in entry["messages"]) == len(entry["videos"])


def test_ingested_video_demo_exports_back_to_its_messages_and_videos(
    fixtures_dir: Path, tmp_path: Path, recipe: Recipe
) -> None:
    """mllm_video_demo.json -> ingest -> release videos/ -> LLaMA-Factory export -> the same messages, the same video bytes."""
    data_dir = fixtures_dir / "llamafactory/data"
    demo = json.loads((data_dir / "mllm_video_demo.json").read_text(encoding="utf-8"))
    store = ImageStore(tmp_path / "store")
    result = ingest_source(str(data_dir / "mllm_video_demo.json"), "llamafactory", store, recipe)
    assert result.rejections == [] and len(result.samples) == 3
    release = tmp_path / "release"
    for video in {video for sample in result.samples for video in sample.videos}:
        store.link_into(video.sha256, video.format, release / "videos")
    folder = release / "exports" / "llamafactory"
    data_path, info_path = export(result.samples, folder, "demo", relative_boxes_only(recipe))
    exported = json.loads(data_path.read_text(encoding="utf-8"))
    assert [entry["messages"] for entry in exported] == [entry["messages"] for entry in demo]
    for entry, original in zip(exported, demo, strict=True):
        assert [(folder / path).read_bytes() for path in entry["videos"]] == [
            (data_dir / path).read_bytes() for path in original["videos"]
        ]
    assert json.loads(info_path.read_text(encoding="utf-8"))["demo"]["columns"] == {"messages": "messages", "videos": "videos"}
    # Read back by vlforge itself, with the release as the root the paths resolve in: the same samples.
    again = ingest_source(str(data_path), "llamafactory", ImageStore(tmp_path / "store2"), recipe, images_root=str(release))
    assert again.rejections == []
    assert [(sample.videos, sample.conversations) for sample in again.samples] == [
        (sample.videos, sample.conversations) for sample in result.samples
    ]


def test_export_splits_writes_one_dataset_info_for_all_splits(tmp_path: Path, recipe: Recipe) -> None:
    files = export_splits({"train": [grounding_sample(), video_sample()], "test": [system_sample()]}, tmp_path, "ds", recipe)
    names = ["ds_train", "ds_train_qwen2_5_vl", "ds_test", "ds_test_qwen2_5_vl"]
    assert files == [*(tmp_path / f"{name}.json" for name in names), tmp_path / "dataset_info.json"]
    info = json.loads(files[-1].read_text(encoding="utf-8"))
    assert info == {
        "ds_train": dataset_info_entry("ds_train.json", with_system=False, with_images=True, with_videos=True),
        "ds_train_qwen2_5_vl": dataset_info_entry("ds_train_qwen2_5_vl.json", with_system=False, with_images=True, with_videos=True),
        "ds_test": dataset_info_entry("ds_test.json", with_system=True),
        "ds_test_qwen2_5_vl": dataset_info_entry("ds_test_qwen2_5_vl.json", with_system=True),
    }
    assert [len(json.loads(path.read_text(encoding="utf-8"))) for path in files[:-1]] == [2, 2, 1, 1]
