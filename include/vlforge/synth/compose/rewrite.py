"""LLM-assisted rewriting of composed answers, kept only where every fact still matches the annotations.

A local ``transformers`` model (``compose.rewrite.model_path``) rewrites each assistant answer of
a composed sample. A rewrite is kept only when

1. every label of the sample's boxes occurs in it as often as in the template answer (case
   folded), so no object is dropped, renamed or invented; and
2. it passes the paraphrase filter (``augment.paraphrase.filter_paraphrases``): the same numbers,
   box markup and spatial words as the template answer, and BERTScore F1 against it at least
   ``bertscore_threshold`` (text the English encoder cannot judge must keep the lexicon's
   canonical form, which a free rewrite does not).

A kept rewrite is recorded as a ``rewrite`` lineage entry with the text it wrote, so a replay
recomposes the template answer and puts the recorded rewrite back, without the model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from vlforge.augment.paraphrase import Paraphraser
from vlforge.augment.paraphrase.filter import Scorer, filter_paraphrases
from vlforge.records import LineageOp, Sample
from vlforge.synth.compose.config import RewriteConfig
from vlforge.synth.compose.rule import group_rng

REWRITE_OP = "rewrite"


def label_counts(text: str, labels: set[str]) -> Counter[str]:
    folded = text.casefold()
    return Counter({label: folded.count(label.casefold()) for label in labels})


def rewrite_answers(
    samples: list[Sample], config: RewriteConfig, seed: int, paraphraser: Paraphraser, scorer: Scorer
) -> tuple[list[Sample], dict[str, int]]:
    """The samples with their kept rewrites, and counts: candidates, kept, rejected.

    Each sample draws from its own generator (the run's seed and its id), so a rewrite does not
    depend on the other samples.
    """
    where: list[tuple[int, int]] = []
    originals: list[str] = []
    candidates: list[str] = []
    for position, sample in enumerate(samples):
        turns = [index for index, turn in enumerate(sample.conversations) if turn.role == "assistant"]
        texts = [sample.conversations[index].content for index in turns]
        labels = {box.label for box in sample.boxes if box.label}
        rewritten = paraphraser.paraphrase(texts, group_rng(seed, REWRITE_OP, [sample]))
        for index, text, candidate in zip(turns, texts, rewritten, strict=True):
            where.append((position, index))
            originals.append(text)
            # a rewrite that loses or invents a label is made identical to its original, which the filter refuses
            candidates.append(candidate if label_counts(candidate, labels) == label_counts(text, labels) else text)
    kept, rejected = filter_paraphrases(originals, candidates, scorer, config.bertscore_threshold)
    by_sample: dict[int, list[dict[str, Any]]] = {}
    for item in kept:
        position, turn = where[item.index]
        by_sample.setdefault(position, []).append({"turn": turn, "text": item.paraphrase, "f1": item.f1})
    result = list(samples)
    for position, turns in by_sample.items():
        entry = LineageOp(
            op=REWRITE_OP,
            params_json=json.dumps(
                {"model": Path(str(config.model_path)).name, "turns": turns}, sort_keys=True, ensure_ascii=False
            ),
        )
        result[position] = apply_rewrites(samples[position].model_copy(update={"lineage": (*samples[position].lineage, entry)}))
    return result, {"candidates": len(originals), "kept": len(kept), "rejected": rejected}


def apply_rewrites(sample: Sample) -> Sample:
    """The sample with the answers its ``rewrite`` lineage entries recorded put in place."""
    turns = list(sample.conversations)
    for entry in sample.lineage:
        if entry.op == REWRITE_OP:
            for turn in json.loads(entry.params_json)["turns"]:
                turns[turn["turn"]] = turns[turn["turn"]].model_copy(update={"content": turn["text"]})
    return sample.model_copy(update={"conversations": tuple(turns)})
