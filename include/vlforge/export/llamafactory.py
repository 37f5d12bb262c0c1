"""LLaMA-Factory sharegpt JSON (``messages`` + ``images`` / ``videos``) and its ``dataset_info.json`` entries.

LLaMA-Factory does not convert boxes, so each file holds one model generation's convention:
``<dataset>_<split>.json`` the Qwen3-VL ``bbox_2d`` one (relative 0-1000, GUI points 0-999),
for Qwen2-VL and Qwen3-VL; when the recipe targets Qwen2.5-VL, ``<dataset>_<split>_qwen2_5_vl.json``
beside it has absolute pixels of the smart-resized image (the recipe's ``qwen2_5_vl_resize``, which
LLaMA-Factory must not resize below: ``image_max_pixels`` in ``train_qwen2_5_vl.yaml``). Image and
video paths are relative to this folder, LLaMA-Factory's ``dataset_dir`` and ``media_dir``.

Videos are written as in LLaMA-Factory's ``mllm_video_demo``: a ``videos`` list with one ``<video>``
tag per video, and the entry's ``columns`` gain ``"videos": "videos"``. A file registers ``images``
when any of its samples has images or none has videos, and ``videos`` when any has videos; every
record of the file carries exactly the registered media keys (an empty list where it has none), so
a file of video samples has the demo's shape (``messages`` + ``videos``).

``export_splits`` writes one file per split and model convention and one ``dataset_info.json``
registering each under its file's stem (``dataset_name``): train with ``dataset: <dataset>_train``
and evaluate with ``eval_dataset: <dataset>_val``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from vlforge.config import Recipe, TargetModel
from vlforge.export.json_stream import JsonSpool, write_json_array
from vlforge.export.qwen_finetune import Convention, answer_renderers, model_convention, with_actions
from vlforge.export.render import IMAGE_PREFIX, VIDEO_PREFIX, check_messages, training_turns
from vlforge.records import Sample
from vlforge.store import atomic_write_text

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
# The models whose convention the plain files hold; the others get files of their own.
BASE_CONVENTION: TargetModel = "qwen3_vl"
SHARING_BASE: frozenset[str] = frozenset({"qwen2_vl", "qwen3_vl"})


def dataset_name(name: str, model: TargetModel) -> str:
    """The registered name (and file stem) of a split's file for ``model``: ``name`` or ``name_<model>``."""
    return name if model in SHARING_BASE else f"{name}_{model}"


def record(
    sample: Sample, recipe: Recipe, image_prefix: str, video_prefix: str = VIDEO_PREFIX, convention: Convention | None = None
) -> dict[str, object]:
    """One sharegpt record: ``messages``, ``images``, ``videos`` (when the sample has any) and ``system`` (when it has one).

    ``convention`` gives the boxes and GUI points (default: Qwen3-VL's, relative).
    """
    convention = convention or model_convention(BASE_CONVENTION, recipe.export.qwen2_5_vl_resize)
    boxes_answer, ocr_answer = answer_renderers(convention.boxes)
    sample = with_actions(sample, convention.points)
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


def dataset_info_entry(
    file_name: str, with_system: bool, with_images: bool = True, with_videos: bool = False
) -> dict[str, object]:
    """The file's registration: ``columns`` name the media keys its records carry and ``system`` when used."""
    columns: dict[str, str] = {"messages": "messages"}
    columns |= {"images": "images"} if with_images else {}
    columns |= {"videos": "videos"} if with_videos else {}
    columns |= {"system": "system"} if with_system else {}
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": dict(TAGS)}


def _write_files(samples: Iterable[Sample], paths: dict[Path, Convention], recipe: Recipe) -> list[dict[str, object]]:
    """Write the records of ``samples`` in each convention to its path; returns each file's ``dataset_info`` entry.

    Which media keys a record carries depends on the whole file, so the records wait in a spool per file,
    in one pass over ``samples``, until the file's keys are known.
    """
    with ExitStack() as spools:
        spooled = {path: spools.enter_context(JsonSpool(path.parent)) for path in paths}
        with_videos = with_images = with_system = False
        for sample in samples:
            with_videos, with_images = with_videos or bool(sample.videos), with_images or bool(sample.images)
            for path, convention in paths.items():
                item = record(sample, recipe, IMAGE_PREFIX, convention=convention)
                with_system = with_system or "system" in item
                spooled[path].append(item)
        with_images = with_images or not with_videos

        def registered(item: dict[str, object]) -> dict[str, object]:
            for key, wanted in (("images", with_images), ("videos", with_videos)):
                if wanted:
                    item.setdefault(key, [])
                else:
                    item.pop(key, None)
            return item

        for path, spool in spooled.items():
            write_json_array(path, (registered(item) for item in spool))
    return [dataset_info_entry(path.name, with_system, with_images, with_videos) for path in paths]


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """One data file ``<dataset>.json`` and a ``dataset_info.json`` registering it as ``dataset``."""
    return export_splits({"": samples}, folder, dataset, recipe)


def export_splits(splits: dict[str, Iterable[Sample]], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """One data file per split and model convention, and one ``dataset_info.json`` that registers them all.

    Args:
        splits: the samples of each split, in the order to register them; the split ``""`` names the
            file and entry ``dataset`` itself (an export without splits).
        folder: the export folder, LLaMA-Factory's ``dataset_dir``.
        dataset: the dataset name.
        recipe: prompts for the grounding and OCR turns, the target models and Qwen2.5-VL's resize.

    Returns:
        The data files in split order (each split's plain file, then its model variants), then ``dataset_info.json``.
    """
    models: list[TargetModel] = [BASE_CONVENTION]
    models += [model for model in recipe.export.target_models if model not in SHARING_BASE]
    info: dict[str, object] = {}
    paths = []
    for split, samples in splits.items():
        names = [dataset_name(f"{dataset}_{split}" if split else dataset, model) for model in models]
        files = {
            folder / f"{name}.json": model_convention(model, recipe.export.qwen2_5_vl_resize)
            for name, model in zip(names, models, strict=True)
        }
        info |= dict(zip(names, _write_files(samples, files, recipe), strict=True))
        paths += files
    info_path = folder / "dataset_info.json"
    atomic_write_text(info_path, json.dumps(info, ensure_ascii=False, indent=2))
    return [*paths, info_path]
