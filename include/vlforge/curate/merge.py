"""Merging the kept samples of one picture into one multi-turn conversation (``dedup.merge_same_image``).

VQA sets often hold several questions about one image as separate samples, and a trainer then
encodes the image once per question. Merged, it encodes the image once and reads every question
and answer as turns of one conversation; no annotation is lost.

Only conversation samples are merged: the same images and videos (the same files, in order), the
same task type, and no boxes, OCR lines, actions, events or choices (those belong to one answer).
Members are taken in ``sample_id`` order. The first keeps its turns as they are; each later
member's turns follow with their media tags removed (the media are already in the first turn) and
without system turns (one conversation has one system prompt). The merged sample's id is the first
16 hex digits of the sha256 of its members' ids, its ``merge`` lineage entry lists them, and it
carries no agreement metrics (they were measured per member).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence

from vlforge.curate.text import strip_media_tags
from vlforge.records import LineageOp, Metrics, Sample

MergeKey = tuple[str, tuple[str, ...], tuple[str, ...]]


def merge_key(sample: Sample) -> MergeKey | None:
    """What a sample must share with another to be merged with it; None for a sample that is never merged."""
    structured = sample.boxes or sample.ocr_lines or sample.actions or sample.video_events or sample.choices
    if not sample.conversations or structured or not (sample.images or sample.videos):
        return None
    return (sample.task_type, tuple(image.sha256 for image in sample.images), tuple(video.sha256 for video in sample.videos))


def merged_sample(members: Sequence[Sample]) -> Sample:
    """One sample whose conversation holds every member's turns (see the module docstring).

    Raises:
        ValueError: when the members do not share a ``merge_key``.
    """
    ordered = sorted(members, key=lambda sample: sample.sample_id)
    keys = {merge_key(sample) for sample in ordered}
    if len(keys) != 1 or None in keys:
        raise ValueError(f"samples {[sample.sample_id for sample in ordered]} do not share images, videos and task type")
    first = ordered[0]
    turns = list(first.conversations)
    for member in ordered[1:]:
        turns += [
            turn.model_copy(update={"content": strip_media_tags(turn.content).strip()})
            for turn in member.conversations
            if turn.role != "system"
        ]
    ids = [sample.sample_id for sample in ordered]
    return first.model_copy(
        update={
            "sample_id": hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16],
            "conversations": tuple(turns),
            "item_id": "",
            "round": 1,
            "gold": all(sample.gold for sample in ordered),
            "metrics": Metrics(),
            "lineage": (*first.lineage, LineageOp(op="merge", params_json=json.dumps({"samples": ids}))),
        }
    )


def merge_same_image(samples: Sequence[Sample]) -> tuple[list[Sample], dict[str, list[str]]]:
    """Merge every set of two or more samples that share a ``merge_key``.

    Returns:
        The samples with each set replaced by its merged sample (at its first member's place),
        and ``{merged sample id: member ids}``.
    """
    members: dict[MergeKey, list[Sample]] = defaultdict(list)
    for sample in samples:
        key = merge_key(sample)
        if key is not None:
            members[key].append(sample)
    replaced: dict[str, Sample | None] = {}
    merged_from: dict[str, list[str]] = {}
    for group in members.values():
        if len(group) < 2:
            continue
        merged = merged_sample(group)
        merged_from[merged.sample_id] = sorted(sample.sample_id for sample in group)
        first = min(group, key=lambda sample: sample.sample_id)
        replaced.update({sample.sample_id: merged if sample is first else None for sample in group})
    result = []
    for sample in samples:
        if sample.sample_id not in replaced:
            result.append(sample)
        elif replaced[sample.sample_id] is not None:
            result.append(replaced[sample.sample_id])
    return result, merged_from  # type: ignore[return-value]
