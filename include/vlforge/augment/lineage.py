"""What a copy's lineage says: its parent, the ops applied, and the per-copy facts the augment gate checks.

The augment stage's counts and the augment gate read the same functions, so they agree on every number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vlforge.augment.config import OpSpec
from vlforge.augment.ops import Op, build_op, op_class
from vlforge.augment.pipeline import REPORT_OPS, VIDEO_SAMPLING
from vlforge.augment.text import side_words, swap_left_right
from vlforge.records import LineageOp, Sample


def parent_id(sample: Sample) -> str | None:
    """The sample id in the last ``parent`` lineage entry, ``None`` for a sample that is not a copy."""
    parents = [entry for entry in sample.lineage if entry.op == "parent"]
    return json.loads(parents[-1].params_json).get("sample_id") if parents else None


def applied_ops(sample: Sample) -> list[LineageOp]:
    """The image ops applied to make this copy (after its last ``parent`` entry; reports and frame sampling left out)."""
    starts = [index for index, entry in enumerate(sample.lineage) if entry.op == "parent"]
    tail = sample.lineage[starts[-1] + 1 :] if starts else ()
    return [entry for entry in tail if entry.op not in REPORT_OPS and entry.op != VIDEO_SAMPLING]


def op_counts(samples: Iterable[Sample], specs: list[OpSpec]) -> dict[str, dict[str, Any]]:
    """Per op of the phase: its probability, the copies it could apply to (task types) and how many it was applied to.

    Video copies (no image) are never eligible: image ops do not run on them.
    """
    counts = {spec.name: {"probability": spec.probability, "eligible": 0, "applied": 0} for spec in specs}
    for sample in samples:
        if not sample.images:
            continue
        applied = {entry.op for entry in applied_ops(sample)}
        for spec in specs:
            if spec.applies_to(sample.task_type):
                counts[spec.name]["eligible"] += 1
                counts[spec.name]["applied"] += spec.name in applied
    return counts


def side_words_mismatch(sample: Sample, parent: Sample | None) -> str | None:
    """Whether a copy's left/right words agree with its flip lineage; ``None`` when they do, else why not.

    The rule: take the parent's turns, leave out the turns the lineage says were dropped
    (``dropped_turns``), apply ``swap_left_right`` once if an odd number of the applied ops mirrored
    the image, and compare each turn's sequence of left/right words (``side_words``) with the copy's.
    Paraphrases never change these words (they are protected spans), and boxes rewritten in the
    text do not contain them, so the sequences must be equal.
    """
    if parent is None:
        return f"{sample.sample_id}: parent {parent_id(sample)} not found"
    mirrors = sum(mirrored(entry) for entry in applied_ops(sample))
    dropped: set[int] = set()
    starts = [index for index, entry in enumerate(sample.lineage) if entry.op == "parent"]
    for entry in sample.lineage[starts[-1] + 1 :] if starts else ():
        if entry.op == "dropped_turns":
            dropped.update(json.loads(entry.params_json)["turns"])
    expected = [turn.content for index, turn in enumerate(parent.conversations) if index not in dropped]
    if mirrors % 2:
        expected = [swap_left_right(text) for text in expected]
    found = [turn.content for turn in sample.conversations]
    if len(expected) != len(found):
        return f"{sample.sample_id}: {len(found)} turns, its lineage leaves {len(expected)} of the parent's"
    for index, (want, have) in enumerate(zip(expected, found, strict=True)):
        if side_words(want) != side_words(have):
            return (
                f"{sample.sample_id} turn {index} ({mirrors} mirror(s)): expected {side_words(want)}, "
                f"found {side_words(have)}"
            )
    return None


def mirrored(entry: LineageOp) -> bool:
    """Whether the applied op of a lineage entry mirrored the image left to right.

    An op that keeps ``Op.mirrors`` mirrors by its class alone, answered without reading the entry's
    parameters; only an op whose answer depends on them is built from them. The augment gate asks this
    for every applied op of every copy, and reading and validating each entry's parameters was 1.4 s of
    its 3.0 s left/right check for 18,000 copies.
    """
    cls = op_class(entry.op)
    if cls.mirrors is Op.mirrors:
        return cls.mirrors_horizontally
    params = json.loads(entry.params_json)
    return build_op(entry.op, params.pop("recipe", {})).mirrors(params)


def empty_conversation(sample: Sample, parent: Sample | None) -> str | None:
    """``None`` unless the copy lost every answer its parent had, or has a blank turn; then why."""
    if any(not turn.content.strip() for turn in sample.conversations):
        return f"{sample.sample_id}: a blank turn"
    parent_answers = parent is None or any(t.role == "assistant" and t.content.strip() for t in parent.conversations)
    answers = any(t.role == "assistant" and t.content.strip() for t in sample.conversations)
    return f"{sample.sample_id}: no answer left" if parent_answers and not answers else None


def paraphrase_scores(samples: Iterable[Sample]) -> list[tuple[str, int, float]]:
    """``(sample_id, turn, f1)`` of every kept paraphrase that BERTScore judged (lexicon-rule ones have no F1)."""
    rows = []
    for sample in samples:
        for entry in sample.lineage:
            if entry.op == "paraphrase":
                for turn in json.loads(entry.params_json)["turns"]:
                    if turn["f1"] is not None:
                        rows.append((sample.sample_id, int(turn["turn"]), float(turn["f1"])))
    return rows
