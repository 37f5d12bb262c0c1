"""LLaMA-Factory sharegpt JSON (``messages`` + ``images``) and its ``dataset_info.json`` entry.

LLaMA-Factory does not convert boxes, so grounding answers use the Qwen3-VL
``bbox_2d`` convention (relative 0-1000), which Qwen2-VL and Qwen3-VL templates
expect, and GUI actions the Qwen3-VL ``mobile_use`` tool calls. Image paths
are relative to this folder, LLaMA-Factory's ``dataset_dir``.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.mobile_use import qwen3_vl_points
from vlforge.export.qwen_finetune import answer_renderers, qwen3_vl_coordinates, with_actions
from vlforge.export.render import check_alternating, check_image_tags, training_turns
from vlforge.records import Sample
from vlforge.store import atomic_write_text

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


def record(sample: Sample, recipe: Recipe, image_prefix: str) -> dict[str, object]:
    boxes_answer, ocr_answer = answer_renderers(qwen3_vl_coordinates)
    sample = with_actions(sample, qwen3_vl_points)
    turns = training_turns(sample, recipe, boxes_answer, ocr_answer)
    result: dict[str, object] = {
        "messages": [{"role": turn.role, "content": turn.content} for turn in turns if turn.role != "system"],
        "images": [f"{image_prefix}/{image.file_name}" for image in sample.images],
    }
    system = [turn.content for turn in turns if turn.role == "system"]
    if system:
        result["system"] = system[0]
    messages = result["messages"]
    assert isinstance(messages, list)
    check_alternating(sample, [message["role"] for message in messages], "user", "assistant")
    check_image_tags(sample, "".join(message["content"] for message in messages), "<image>", len(sample.images))
    return result


def dataset_info_entry(file_name: str, with_system: bool) -> dict[str, object]:
    columns = {"messages": "messages", "images": "images"} | ({"system": "system"} if with_system else {})
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": dict(TAGS)}


def export(samples: list[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    records = [record(sample, recipe, "../../images") for sample in samples]
    data_path = folder / f"{dataset}.json"
    info_path = folder / "dataset_info.json"
    with_system = any("system" in item for item in records)
    atomic_write_text(data_path, json.dumps(records, ensure_ascii=False, indent=2))
    info = {dataset: dataset_info_entry(data_path.name, with_system)}
    atomic_write_text(info_path, json.dumps(info, ensure_ascii=False, indent=2))
    return [data_path, info_path]
