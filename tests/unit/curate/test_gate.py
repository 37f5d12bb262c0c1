"""The curate gate (GX): a dataset that cannot be split fails naming its group; too many drops fail with reasons."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from curate_helpers import SKIMAGE, YOLO_IMAGES, make_sample

from vlforge.config import Recipe
from vlforge.curate import curate
from vlforge.curate.gate import run_curate_gate
from vlforge.gates import GateFailed
from vlforge.prepare import prepare_run
from vlforge.records import ImageRef, Sample
from vlforge.run import RunDescription
from vlforge.store import ImageStore, atomic_write_text

Put = Callable[[Path | bytes], ImageRef]


def _curated_run(home: Path, name: str, samples: list[Sample], store: ImageStore, recipe: Recipe) -> RunDescription:
    """A run prepared with ``recipe`` whose ``curate_stats.json`` is what ``run_curate`` writes for ``samples``."""
    run = prepare_run(home, "gate", name, recipe)
    result = curate(samples, store, recipe.curate, seed=run.seed)
    atomic_write_text(run.run_dir.curate_stats, json.dumps({"samples_in": len(samples), **result.to_json(), "seed": run.seed}))
    return run


def test_a_dataset_of_one_item_fails_naming_the_group(put: Put, store: ImageStore, tmp_path: Path) -> None:
    cat = put(SKIMAGE / "chelsea.png")
    samples = [make_sample("only", (cat,), answer="A cat.", item_id="task-42")]
    run = _curated_run(tmp_path, "one", samples, store, Recipe(name="one"))

    with pytest.raises(GateFailed) as failure:
        run_curate_gate(run)
    message = str(failure.value)
    assert "gate 'curate' failed 1 of 2 expectations" in message
    assert "ExpectSplitsNearRecipe" in message.replace("expect_splits_near_recipe", "ExpectSplitsNearRecipe")
    assert "val has 0 of 1 samples (0.0%), target 5% +- 2%" in message
    assert "item:task-42 (1 samples in train: a single sample)" in message
    result = json.loads(run.run_dir.gate_summary("curate").read_text())
    assert result["passed"] is False and {failure["column"] for failure in result["failures"]} == {"splits.off_target"}

    accepting = Recipe.model_validate({"name": "one", "curate": {"splits": {"accept_off_target": True}}})
    assert run_curate_gate(_curated_run(tmp_path, "accepting", samples, store, accepting))["passed"] is True


def test_more_drops_than_allowed_fail_with_the_top_reasons_and_example_pairs(put: Put, store: ImageStore, tmp_path: Path) -> None:
    bus, cat, coffee = put(YOLO_IMAGES / "img_1.jpg"), put(SKIMAGE / "chelsea.png"), put(SKIMAGE / "coffee.png")
    samples = [make_sample(f"bus-{index}", (bus,), answer="A red bus.") for index in range(4)]
    questions = ["What colour is the cat?", "Is the cat asleep?", "What is behind the cat?", "How many cats are there?", "Where does the cat look?",
                 "Is it indoors?", "What is the cat lying on?", "Is there a person?", "What time of day is it?", "Is the photo sharp?"]
    samples += [make_sample(f"cat-{index}", (cat,), question=question, answer="Look closely.") for index, question in enumerate(questions)]
    samples += [make_sample("coffee", (coffee,), answer=" ")]
    recipe = Recipe.model_validate({"name": "drops", "curate": {"max_drop_share": 0.2, "splits": {"accept_off_target": True}}})

    with pytest.raises(GateFailed) as failure:
        run_curate_gate(_curated_run(tmp_path, "strict", samples, store, recipe))
    message = str(failure.value)
    assert "curation dropped 4 of 15 samples (26.7%), more than curate.max_drop_share 20%" in message
    assert "top reasons: exact_duplicate 3 (e.g. bus-1 duplicates kept bus-0 (same files, normalised text and annotations); " in message
    assert "empty_answer 1 (e.g. sample coffee (export.json record rec-coffee): conversations[1].content (' '): assistant answer is empty)" in message

    lenient = Recipe.model_validate({"name": "drops", "curate": {"max_drop_share": 0.3, "splits": {"accept_off_target": True}}})
    assert run_curate_gate(_curated_run(tmp_path, "lenient", samples, store, lenient))["passed"] is True
