"""Several pictures in one conversation, with comparison questions answered exactly from their boxes.

Sources are single-image samples with labelled boxes. A group of 2 to N of them (distinct images)
becomes one sample whose first question opens with one ``<image>`` per picture (Qwen-VL's exporter
writes ``Picture 1: <img>…</img>``, LLaMA-Factory and ms-swift keep one ``<image>`` each) and
whose boxes keep their labels with ``image_index`` = the picture's position (ms-swift's
``image_id``). The questions, drawn per sample, in English or Chinese:

- ``count``: how many of a label each picture shows (its boxes with that label);
- ``presence``: whether picture k shows a label;
- ``which``: which pictures show a label;
- ``larger``: which of two objects, each the only one of its label in its picture, takes up more
  of its picture (box area over image area); drawn only when the shares differ by at least
  ``LARGER_MARGIN`` of the larger one, so the answer is never a near tie.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlforge.records import Box, Sample
from vlforge.synth.compose.config import MultiImageConfig
from vlforge.synth.compose.rule import composed_sample, conversation

RULE = "multi_image"
LARGER_MARGIN = 0.1


def eligible(samples: list[Sample]) -> list[Sample]:
    """Single-image samples with at least one labelled box, by sample id."""
    found = [s for s in samples if len(s.images) == 1 and not s.videos and any(box.label for box in s.boxes)]
    return sorted(found, key=lambda sample: sample.sample_id)


def draw_groups(candidates: list[Sample], config: MultiImageConfig, rng: np.random.Generator) -> list[list[Sample]]:
    """Groups of ``min_images`` to ``max_images`` candidates with distinct images; each candidate used once."""
    order = [candidates[int(index)] for index in rng.permutation(len(candidates))]
    groups: list[list[Sample]] = []
    while order and len(groups) < config.max_samples:
        size = int(rng.integers(config.min_images, config.max_images + 1))
        group: list[Sample] = []
        for sample in list(order):
            if len(group) == size:
                break
            if sample.images[0].sha256 not in {member.images[0].sha256 for member in group}:
                group.append(sample)
                order.remove(sample)
        if len(group) < config.min_images:
            break
        groups.append(group)
    return groups


def labels(sources: list[Sample]) -> list[str]:
    return sorted({box.label for source in sources for box in source.boxes if box.label})


def share(box: Box, source: Sample) -> float:
    image = source.images[0]
    return (box.x2 - box.x1) * (box.y2 - box.y1) / (image.width * image.height)


def larger_pairs(sources: list[Sample]) -> list[list[Any]]:
    """``[[i, label_i], [j, label_j]]`` for objects alone of their label in pictures i < j whose shares differ enough."""
    singles = []
    for index, source in enumerate(sources):
        for label in labels([source]):
            found = [box for box in source.boxes if box.label == label]
            if len(found) == 1:
                singles.append((index, label, share(found[0], source)))
    return [
        [[i, a], [j, b]]
        for i, a, share_a in singles
        for j, b, share_b in singles
        if i < j and abs(share_a - share_b) >= LARGER_MARGIN * max(share_a, share_b)
    ]


def draw(sources: list[Sample], config: MultiImageConfig, rng: np.random.Generator) -> dict[str, Any]:
    """``questions_per_sample`` distinct questions, each ``{kind, language, ...}``, among those the group allows."""
    known = labels(sources)
    options: list[dict[str, Any]] = []
    for kind in config.questions:
        if kind in ("count", "which"):
            options += [{"kind": kind, "label": label} for label in known]
        elif kind == "presence":
            options += [{"kind": kind, "label": label, "picture": p} for label in known for p in range(len(sources))]
        else:
            options += [{"kind": kind, "first": first, "second": second} for first, second in larger_pairs(sources)]
    picked = rng.permutation(len(options))[: config.questions_per_sample]
    languages = list(config.languages)
    return {"questions": [{**options[int(index)], "language": languages[int(rng.integers(len(languages)))]} for index in picked]}


def counts(sources: list[Sample], label: str) -> list[int]:
    return [sum(box.label == label for box in source.boxes) for source in sources]


def _pictures(numbers: list[int], language: str) -> str:
    """``Picture 2``, ``Pictures 1 and 3``, ``Pictures 1, 2 and 4``; ``图片1、图片2和图片4``."""
    if language == "zh":
        names = [f"图片{number}" for number in numbers]
        return names[0] if len(names) == 1 else "、".join(names[:-1]) + "和" + names[-1]
    if len(numbers) == 1:
        return f"Picture {numbers[0]}"
    return "Pictures " + ", ".join(str(number) for number in numbers[:-1]) + f" and {numbers[-1]}"


def question_and_answer(sources: list[Sample], question: dict[str, Any]) -> tuple[str, str]:
    """The text of one drawn question and its answer from the annotations."""
    kind, zh = question["kind"], question["language"] == "zh"
    if kind == "count":
        label, found = question["label"], counts(sources, question["label"])
        if zh:
            return f"每张图片中各有几个“{label}”？", "；".join(f"图片{i}：{n}个" for i, n in enumerate(found, 1)) + "。"
        return f"How many {label} are there in each picture?", " ".join(f"Picture {i}: {n}." for i, n in enumerate(found, 1))
    if kind == "presence":
        label, picture = question["label"], question["picture"]
        present = counts(sources, label)[picture] > 0
        if zh:
            return f"图片{picture + 1}中有“{label}”吗？", "有。" if present else "没有。"
        return f"Is there a {label} in Picture {picture + 1}?", "Yes." if present else "No."
    if kind == "which":
        label = question["label"]
        showing = [i for i, n in enumerate(counts(sources, label), 1) if n]
        if zh:
            return f"哪些图片中有“{label}”？", (_pictures(showing, "zh") + "。") if showing else "都没有。"
        return f"Which pictures show a {label}?", (_pictures(showing, "en") + ".") if showing else "None of them."
    (i, a), (j, b) = question["first"], question["second"]
    first_share = share(next(box for box in sources[i].boxes if box.label == a), sources[i])
    second_share = share(next(box for box in sources[j].boxes if box.label == b), sources[j])
    bigger = (i, a) if first_share > second_share else (j, b)
    if zh:
        asked = f"图片{i + 1}中的“{a}”和图片{j + 1}中的“{b}”，哪一个在其图片中所占面积更大？"
        return asked, f"图片{bigger[0] + 1}中的“{bigger[1]}”。"
    asked = f"Which takes up more of its picture: the {a} in Picture {i + 1} or the {b} in Picture {j + 1}?"
    return asked, f"The {bigger[1]} in Picture {bigger[0] + 1}."


def compose(sources: list[Sample], params: dict[str, Any]) -> Sample:
    """The multi-image sample of ``sources`` with the drawn questions; deterministic."""
    pairs = [question_and_answer(sources, question) for question in params["questions"]]
    boxes = tuple(box.model_copy(update={"image_index": index}) for index, source in enumerate(sources) for box in source.boxes)
    return composed_sample(
        RULE,
        sources,
        params,
        task_type="grounding",
        images=tuple(source.images[0] for source in sources),
        conversations=conversation(pairs, len(sources)),
        boxes=boxes,
    )
