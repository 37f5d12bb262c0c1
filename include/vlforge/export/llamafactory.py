"""LLaMA-Factory sharegpt JSON (``messages`` + ``images`` / ``videos``) and its ``dataset_info.json`` entries.

LLaMA-Factory does not convert boxes, so grounding answers use the Qwen3-VL
``bbox_2d`` convention (relative 0-1000), which Qwen2-VL and Qwen3-VL templates
expect, and GUI actions the Qwen3-VL ``mobile_use`` tool calls. Image and video
paths are relative to this folder, LLaMA-Factory's ``dataset_dir``.

Videos are written as in LLaMA-Factory's ``mllm_video_demo``: a ``videos`` list with one ``<video>``
tag per video, and the entry's ``columns`` gain ``"videos": "videos"``. A file registers ``images``
when any of its samples has images or none has videos, and ``videos`` when any has videos; every
record of the file carries exactly the registered media keys (an empty list where it has none), so
a file of video samples has the demo's shape (``messages`` + ``videos``).

``export_splits`` writes one file per split, ``<dataset>_<split>.json``, and one ``dataset_info.json``
registering each as ``<dataset>_<split>``: train with ``dataset: <dataset>_train`` and evaluate
with ``eval_dataset: <dataset>_val``.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.mobile_use import qwen3_vl_points
from vlforge.export.qwen_finetune import answer_renderers, qwen3_vl_coordinates, with_actions
from vlforge.export.render import IMAGE_PREFIX, VIDEO_PREFIX, check_messages, training_turns
from vlforge.records import Sample
from vlforge.store import atomic_write_text

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


def record(sample: Sample, recipe: Recipe, image_prefix: str, video_prefix: str = VIDEO_PREFIX) -> dict[str, object]:
    """One sharegpt record: ``messages``, ``images``, ``videos`` (when the sample has any) and ``system`` (when it has one)."""
    boxes_answer, ocr_answer = answer_renderers(qwen3_vl_coordinates)
    sample = with_actions(sample, qwen3_vl_points)
    turns = training_turns(sample, recipe, boxes_answer, ocr_answer)
    result: dict[str, object] = {
        "messages": [{"role": turn.role, "content": turn.content} for turn in turns if turn.role != "system"],
        "images": [f"{image_prefix}/{image.file_name}" for image in sample.images],
    }
    if sample.videos:
        result["videos"] = [f"{video_prefix}/{video.file_name}" for video in sample.videos]
    system = [turn.content for turn in turns if turn.role == "system"]
    if system:
        result["system"] = system[0]
    check_messages(sample, result["messages"])
    return result


def dataset_info_entry(file_name: str, with_system: bool, with_images: bool = True, with_videos: bool = False) -> dict[str, object]:
    """The file's registration: ``columns`` name the media keys its records carry and ``system`` when used."""
    columns: dict[str, str] = {"messages": "messages"}
    columns |= {"images": "images"} if with_images else {}
    columns |= {"videos": "videos"} if with_videos else {}
    columns |= {"system": "system"} if with_system else {}
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": dict(TAGS)}


def _write_file(samples: list[Sample], path: Path, recipe: Recipe) -> dict[str, object]:
    """Write the records of ``samples`` to ``path`` and return the file's ``dataset_info`` entry."""
    records = [record(sample, recipe, IMAGE_PREFIX) for sample in samples]
    with_videos = any(sample.videos for sample in samples)
    with_images = any(sample.images for sample in samples) or not with_videos
    for item in records:
        for key, registered in (("images", with_images), ("videos", with_videos)):
            if registered:
                item.setdefault(key, [])
            else:
                item.pop(key, None)
    with_system = any("system" in item for item in records)
    atomic_write_text(path, json.dumps(records, ensure_ascii=False, indent=2))
    return dataset_info_entry(path.name, with_system, with_images, with_videos)


def export(samples: list[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """One data file ``<dataset>.json`` and a ``dataset_info.json`` registering it as ``dataset``."""
    return export_splits({"": samples}, folder, dataset, recipe)


def export_splits(splits: dict[str, list[Sample]], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """One data file per split and one ``dataset_info.json`` that registers them all.

    Args:
        splits: the samples of each split, in the order to register them; the split ``""`` names the
            file and entry ``dataset`` itself (an export without splits).
        folder: the export folder, LLaMA-Factory's ``dataset_dir``.
        dataset: the dataset name.
        recipe: prompts for the grounding and OCR turns.

    Returns:
        The data files in split order, then ``dataset_info.json``.
    """
    info: dict[str, object] = {}
    paths = []
    for split, samples in splits.items():
        name = f"{dataset}_{split}" if split else dataset
        path = folder / f"{name}.json"
        info[name] = _write_file(samples, path, recipe)
        paths.append(path)
    info_path = folder / "dataset_info.json"
    atomic_write_text(info_path, json.dumps(info, ensure_ascii=False, indent=2))
    return [*paths, info_path]
