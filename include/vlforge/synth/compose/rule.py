"""What every composition rule shares: a seeded generator per group, the composed sample's id, source and lineage."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from vlforge.records import LineageOp, Sample, Source, Turn

COMPOSE_OP = "compose"


def group_rng(seed: int, rule: str, sources: list[Sample]) -> np.random.Generator:
    """The generator of one group: keyed by the run's seed, the rule and the sources' ids, not by position,
    so adding unrelated samples to a dataset does not change how this group is composed."""
    key = hashlib.sha256(json.dumps([rule, [source.sample_id for source in sources]]).encode()).hexdigest()[:16]
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(key, 16)]))


def composed_sample(rule: str, sources: list[Sample], params: dict[str, Any], **fields: Any) -> Sample:  # noqa: ANN401
    """A composed sample: its id, item and source name the rule and the sources; its lineage replays it."""
    ids = [source.sample_id for source in sources]
    recorded = {"rule": rule, "sources": ids, **params}
    digest = hashlib.sha256(json.dumps(recorded, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return Sample(
        sample_id=digest,
        item_id=digest,
        source=Source(file=f"{COMPOSE_OP}:{rule}", record_id="+".join(ids)),
        lineage=(LineageOp(op=COMPOSE_OP, params_json=json.dumps(recorded, sort_keys=True, ensure_ascii=False)),),
        **fields,
    )


def compose_params(sample: Sample) -> dict[str, Any] | None:
    """The rule, source ids and parameters recorded in a composed sample's lineage; ``None`` for any other sample."""
    entries = [entry for entry in sample.lineage if entry.op == COMPOSE_OP]
    return json.loads(entries[-1].params_json) if entries else None


def qa_pairs(sample: Sample) -> list[tuple[str, str]]:
    """The sample's question/answer pairs in order, image and video tags taken out of the questions."""
    turns = [turn for turn in sample.conversations if turn.role != "system"]
    pairs = []
    for question, answer in zip(turns[::2], turns[1::2], strict=False):
        if question.role == "user" and answer.role == "assistant" and answer.content.strip():
            text = question.content.replace("<image>", "").replace("<video>", "").strip()
            pairs.append((text, answer.content.strip()))
    return pairs


def conversation(pairs: list[tuple[str, str]], images: int) -> tuple[Turn, ...]:
    """Turns for ``pairs``, the ``images`` image tags opening the first question."""
    turns: list[Turn] = []
    for index, (question, answer) in enumerate(pairs):
        opening = "<image>" * images + "\n" if index == 0 else ""
        turns += [Turn(role="user", content=opening + question), Turn(role="assistant", content=answer)]
    return tuple(turns)
