"""Samples of one image merged into one conversation: ``multi_turn`` (their QA turns) and ``multi_task``
(caption, QA, boxes and OCR lines of different task types together).

``multi_turn`` takes every distinct question/answer pair of the image's caption and VQA samples
and orders them with the group's generator. ``multi_task`` also carries the boxes of its
grounding samples and the lines of its OCR samples, which the exporters render as grounding and
reading turns in each trainer's own box syntax. Duplicate pairs are removed; boxes and lines keep
their sources' order, duplicates removed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from vlforge.records import Sample
from vlforge.synth.compose.rule import composed_sample, conversation, qa_pairs

TEXT_TASKS = ("caption", "vqa")
MERGED_TASKS = ("caption", "vqa", "grounding", "ocr")


def image_groups(samples: list[Sample]) -> list[list[Sample]]:
    """Single-image samples of the merged task types grouped by image, groups of two or more, by image hash."""
    by_image: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if len(sample.images) == 1 and not sample.videos and sample.task_type in MERGED_TASKS:
            by_image[sample.images[0].sha256].append(sample)
    return [sorted(group, key=lambda sample: sample.sample_id) for _, group in sorted(by_image.items()) if len(group) > 1]


def distinct_pairs(sources: list[Sample], tasks: tuple[str, ...] = TEXT_TASKS) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for source in sources:
        if source.task_type in tasks:
            pairs += [pair for pair in qa_pairs(source) if pair not in pairs]
    return pairs


def can_compose(rule: str, sources: list[Sample]) -> bool:
    """``multi_turn``: two or more distinct QA pairs from two or more samples; ``multi_task``: two or more task types."""
    if rule == "multi_turn":
        texts = [source for source in sources if source.task_type in TEXT_TASKS and qa_pairs(source)]
        return len(texts) > 1 and len(distinct_pairs(sources)) > 1
    return len({source.task_type for source in sources}) > 1


def draw(sources: list[Sample], rng: np.random.Generator, max_pairs: int) -> dict[str, Any]:
    """The pairs' order: a permutation of the distinct pairs, cut to ``max_pairs``."""
    return {"order": [int(index) for index in rng.permutation(len(distinct_pairs(sources)))[:max_pairs]]}


def compose(rule: str, sources: list[Sample], params: dict[str, Any]) -> Sample:
    """The composed sample of ``rule`` (``multi_turn`` or ``multi_task``) with drawn ``params``; deterministic."""
    pairs = distinct_pairs(sources)
    ordered = [pairs[index] for index in params["order"]]
    fields: dict[str, Any] = {"images": sources[0].images, "conversations": conversation(ordered, 1)}
    if rule == "multi_turn":
        fields["task_type"] = "vqa" if any(source.task_type == "vqa" for source in sources) else "caption"
    else:
        boxes = [box for source in sources if source.task_type == "grounding" for box in source.boxes]
        lines = [line for source in sources if source.task_type == "ocr" for line in source.ocr_lines]
        fields["boxes"] = tuple(dict.fromkeys(boxes))
        fields["ocr_lines"] = tuple(dict.fromkeys(lines))
        fields["task_type"] = "grounding" if boxes else ("ocr" if lines else "vqa")
        if not ordered and not boxes and not lines:
            raise ValueError(f"{rule} over {[source.sample_id for source in sources]}: nothing to compose")
    return composed_sample(rule, sources, params, **fields)
