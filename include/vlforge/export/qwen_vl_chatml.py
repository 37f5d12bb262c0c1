"""Qwen-VL (first generation) fine-tuning data as JSON Lines, in the form of the Qwen-VL paper and README.

Images are written inline as ``Picture N: <img>path</img>``; a box is
``<ref>label</ref><box>(x1,y1),(x2,y2)</box>`` with coordinates normalised to
integers in ``[0, 1000)``. Roles are ``user``/``assistant`` under ``from``/``value``.
Qwen-VL (first generation) has no video input: a video sample is refused (``export_all`` skips it).
It has no GUI tool either: GUI actions answer as one line each, ``click <ref>target</ref><box>...</box>``,
``type "text"``, ``swipe up <box>...</box>`` (the box in the same ``[0, 1000)`` grid).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.render import (
    IMAGE_PREFIX,
    ExportError,
    check_alternating,
    check_image_tags,
    merge_system_prompt,
    refuse_videos,
    training_turns,
    with_actions_answer,
)
from vlforge.geometry import xyxy_to_qwen_vl_1000
from vlforge.records import Box, GuiAction, ImageRef, OcrLine, Sample
from vlforge.store import atomic_open


def box_text(box: Box, image: ImageRef, ref: str) -> str:
    x1, y1, x2, y2 = xyxy_to_qwen_vl_1000((box.x1, box.y1, box.x2, box.y2), image.width, image.height)
    return f"<ref>{ref}</ref><box>({x1},{y1}),({x2},{y2})</box>"


def boxes_answer(boxes: list[Box], images: tuple[ImageRef, ...]) -> str:
    return "".join(box_text(box, images[box.image_index], box.label) for box in boxes)


def ocr_answer(lines: list[OcrLine], images: tuple[ImageRef, ...]) -> str:
    return "\n".join(box_text(line.box, images[line.box.image_index], line.text) if line.box else line.text for line in lines)


def action_text(action: GuiAction, screen: ImageRef) -> str:
    """One GUI action as Qwen-VL text: its type, its text, and its target box when it has one."""
    words = [action.type]
    if action.type in ("type", "key", "open") and action.text:
        words.append(json.dumps(action.text, ensure_ascii=False))
    elif action.type in ("swipe", "scroll") and action.text:
        words.append(action.text)
    if action.box is not None:
        reference = action.box.label or action.text if action.type in ("click", "long_press") else ""
        box = box_text(action.box, screen, reference)
        words.append(box if reference else box.replace("<ref></ref>", ""))
    return " ".join(words)


def record(sample: Sample, recipe: Recipe, image_prefix: str) -> dict[str, object]:
    refuse_videos(sample, "Qwen-VL (first generation)")
    if sample.actions:
        if not sample.images:
            raise ExportError(f"sample {sample.sample_id}: GUI actions need a screenshot, but the sample has no image")
        answer = "\n".join(action_text(action, sample.images[0]) for action in sample.actions)
        sample = with_actions_answer(sample, answer)
    turns = merge_system_prompt(training_turns(sample, recipe, boxes_answer, ocr_answer))
    check_image_tags(sample, "".join(turn.content for turn in turns), "<image>", len(sample.images))
    pictures = iter(range(1, len(sample.images) + 1))
    values = []
    for turn in turns:
        parts = turn.content.split("<image>")
        text = parts[0]
        for part in parts[1:]:
            number = next(pictures)
            text += f"Picture {number}: <img>{image_prefix}/{sample.images[number - 1].file_name}</img>\n" + part.lstrip("\n")
        values.append({"from": turn.role, "value": text})
    result = {"id": sample.sample_id, "conversations": values}
    validate(sample, result)
    return result


def validate(sample: Sample, result: dict[str, object]) -> None:
    """Qwen-VL's finetune script: user/assistant pairs, one ``<img>`` per image, balanced ``<ref>``/``<box>``."""
    conversations = result["conversations"]
    assert isinstance(conversations, list)
    check_alternating(sample, [turn["from"] for turn in conversations], "user", "assistant")
    text = "".join(turn["value"] for turn in conversations)
    if text.count("<img>") != len(sample.images) or text.count("</img>") != len(sample.images):
        raise ExportError(f"sample {sample.sample_id}: {text.count('<img>')} <img> tags for {len(sample.images)} images")
    for tag in ("ref", "box"):
        if text.count(f"<{tag}>") != text.count(f"</{tag}>"):
            raise ExportError(f"sample {sample.sample_id}: unbalanced <{tag}> tags")


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """Write ``<dataset>.jsonl``, a line per sample as it comes."""
    path = folder / f"{dataset}.jsonl"
    with atomic_open(path) as handle:
        for sample in samples:
            handle.write((json.dumps(record(sample, recipe, IMAGE_PREFIX), ensure_ascii=False) + "\n").encode("utf-8"))
    return [path]
