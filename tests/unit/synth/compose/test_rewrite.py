"""LLM-assisted rewrites of composed answers: kept only when labels, numbers and meaning hold; replayed from the lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.tiny_paraphrasers import build_tiny_paraphraser

from vlforge.records import Sample
from vlforge.synth.compose import multi_image
from vlforge.synth.compose.budget import TokenCounter
from vlforge.synth.compose.config import ComposeConfig, MultiImageConfig, RewriteConfig
from vlforge.synth.compose.rewrite import rewrite_answers
from vlforge.synth.compose.stage import compose_all, recompose

COUNT = {"kind": "count", "label": "bus", "language": "en"}
LARGER = {"kind": "larger", "first": [0, "bus"], "second": [1, "bus"], "language": "en"}


class ScriptedModel:
    """Stands in for a model's generations: returns the scripted rewrite of each known answer."""

    def __init__(self, rewrites: dict[str, str]) -> None:
        self.rewrites = rewrites

    def paraphrase(self, texts: list[str], rng: np.random.Generator) -> list[str]:
        return [self.rewrites.get(text, text) for text in texts]


class FixedScorer:
    """BERTScore stand-in with one F1 for every pair (the filter's scoring is tested against bert_score elsewhere)."""

    def __init__(self, f1: float) -> None:
        self.f1 = f1

    def is_meaningful(self, text: str) -> bool:
        return True

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        return [(self.f1, self.f1, self.f1)] * len(candidates)


@pytest.fixture
def pair(bus_photos: dict[str, Sample]) -> Sample:
    # img_1's bus takes 0.838 of it, img_2's 0.414
    return multi_image.compose([bus_photos["img_1"], bus_photos["img_2"]], {"questions": [COUNT, LARGER]})


def test_a_faithful_rewrite_is_kept_and_replays_without_the_model(pair: Sample, bus_photos: dict[str, Sample]) -> None:
    model = ScriptedModel({"The bus in Picture 1.": "It is the bus in Picture 1."})
    (rewritten,), counts = rewrite_answers([pair], RewriteConfig(model_path="/models/tiny"), 0, model, FixedScorer(0.9))
    assert counts == {"candidates": 2, "kept": 1, "rejected": 1}  # the count answer came back unchanged
    assert [turn.content for turn in rewritten.conversations[1::2]] == [
        "Picture 1: 1. Picture 2: 1.",
        "It is the bus in Picture 1.",
    ]
    assert rewritten.lineage[-1].op == "rewrite"
    sources = {bus_photos[name].sample_id: bus_photos[name] for name in ("img_1", "img_2")}
    assert recompose(rewritten, sources.get) == rewritten


@pytest.mark.parametrize(
    ("rewrite", "why"),
    [
        ("The car in Picture 1.", "renames the object"),
        ("The bus in Picture 2.", "changes a number"),
        ("The bus in Picture 1, left of the road.", "adds a spatial word"),
    ],
)
def test_an_unfaithful_rewrite_is_refused(pair: Sample, rewrite: str, why: str) -> None:
    model = ScriptedModel({"The bus in Picture 1.": rewrite})
    (kept,), counts = rewrite_answers([pair], RewriteConfig(model_path="/models/tiny"), 0, model, FixedScorer(0.99))
    assert kept == pair and counts["kept"] == 0, why


def test_a_rewrite_below_the_bertscore_threshold_is_refused(pair: Sample) -> None:
    model = ScriptedModel({"The bus in Picture 1.": "It is the bus in Picture 1."})
    (kept,), counts = rewrite_answers(
        [pair], RewriteConfig(model_path="/models/tiny", bertscore_threshold=0.85), 0, model, FixedScorer(0.8)
    )
    assert kept == pair and counts == {"candidates": 2, "kept": 0, "rejected": 2}


@pytest.mark.slow
def test_a_tiny_random_model_runs_through_the_stage_and_its_noise_is_refused(
    tmp_path: Path, bus_photos: dict[str, Sample]
) -> None:
    model = build_tiny_paraphraser(tmp_path / "t5", "seq2seq")
    config = ComposeConfig(
        multi_turn={"enabled": False},
        multi_task={"enabled": False},
        multi_image=MultiImageConfig(min_images=2, max_images=2, questions=("count",), questions_per_sample=1, languages=("en",)),
        rewrite=RewriteConfig(enabled=True, model_path=str(model)),
    )
    train = [bus_photos[f"img_{n}"] for n in range(1, 5)]
    made, stats = compose_all(train, config, 0, TokenCounter(config), scorer=FixedScorer(0.99))
    # two pictures per sample, one question each: two samples, two answers; random weights keep no number
    assert stats["rewrite"] == {"candidates": 2, "kept": 0, "rejected": 2}
    assert len(made) == 2 and all(sample.lineage[-1].op == "compose" for sample in made)
