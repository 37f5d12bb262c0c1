"""Scoring end to end with a model that answers exactly what the release trained it to: every sample scores 1.

The backend here is a test double that returns each prompt's reference turn, so the test checks that the
prompts, the export's conventions and the answer readers agree (an exported answer read back is right).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.evaluate.model import score as score_module
from vlforge.evaluate.model.backends import Reply
from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.prompts import Prompt, read_prompts
from vlforge.evaluate.model.score import ANSWERED, PASS_RATE, SampleScore, aggregate_model_scores, score_model_on_samples
from vlforge.layout import ReleaseDir
from vlforge.records import Sample

pytestmark = pytest.mark.slow  # loads the BERTScore encoder


class ReferenceModel:
    """Answers each prompt with its reference turn (a model that learned the release by heart)."""

    def __init__(self, config: ModelBackendConfig) -> None:
        self.prompts: list[Prompt] = []

    def answer(self, prompts: list[Prompt]) -> list[Reply]:
        self.prompts += prompts
        return [Reply(prompt.reference) for prompt in prompts]


@pytest.mark.parametrize("generation", ["qwen_vl", "qwen2_5_vl", "qwen3_vl"])
def test_the_exported_answers_read_back_score_one(
    generation: str, evaluation_release: tuple[ReleaseDir, list[Sample]], monkeypatch: pytest.MonkeyPatch
) -> None:
    release, samples = evaluation_release
    monkeypatch.setattr(score_module, "make_backend", ReferenceModel)
    config = ModelBackendConfig(kind="openai", generation=generation, base_url="http://unused/v1", served_model="m")  # type: ignore[arg-type]
    scores = score_model_on_samples(release, samples, config)
    assert [score.sample_id for score in scores] == [sample.sample_id for sample in samples]
    by_id = {score.sample_id: score for score in scores}
    for sample in samples:
        if sample.videos and generation == "qwen_vl":  # Qwen-VL has no video input: not in its export
            assert by_id[sample.sample_id].value is None and "not in the release's qwen_vl_chatml export" in by_id[sample.sample_id].error
        else:
            assert by_id[sample.sample_id].value == 1.0, by_id[sample.sample_id]
            assert by_id[sample.sample_id].error == ""
    assert by_id["caption0000"].threshold == 0.3681  # the MiniLM's calibrated per-sample threshold


def test_the_prompt_is_every_turn_before_the_last_answer(evaluation_release: tuple[ReleaseDir, list[Sample]]) -> None:
    release, _ = evaluation_release
    ocr = read_prompts(release, "qwen3_vl", ["ocr0000"])["ocr0000"]
    assert [message.role for message in ocr.messages] == ["user", "assistant", "user"]
    assert ocr.messages[1].text() == "Yes." and ocr.messages[2].text().startswith("Read all the text")
    (image,) = ocr.media("image")  # resolved against the export's folder: the release's own image
    assert Path(image).parent == release.images.resolve() and Path(image).is_file()
    assert '"text_content": "HELLO WORLD"' in ocr.reference
    chatml = read_prompts(release, "qwen_vl_chatml", ["ground0000", "video0000"])
    assert list(chatml) == ["ground0000"]
    assert [part.kind for part in chatml["ground0000"].messages[0].parts] == ["text", "image", "text"]


def test_rows_per_task_type_with_the_worst_answers() -> None:
    scores = [
        SampleScore("g1", "grounding", "grounding_accuracy@iou0.5", 1.0),
        SampleScore("g2", "grounding", "grounding_accuracy@iou0.5", 0.0, answer="junk", error="no readable answer"),
        SampleScore("g3", "grounding", "grounding_accuracy@iou0.5", 0.5),
        SampleScore("g4", "grounding", "grounding_accuracy@iou0.5", None, error="timeout after 1.0s (after 4 attempts)"),
        SampleScore("c1", "caption", "bertscore_f1", 0.9, threshold=0.5),
        SampleScore("c2", "caption", "bertscore_f1", 0.2, threshold=0.5),
    ]
    rows = {(row.subset, row.metric): row for row in aggregate_model_scores(scores, "tiny")}
    grounding = rows[("task_type=grounding", "grounding_accuracy@iou0.5")]
    assert (grounding.evaluator, grounding.model, grounding.value, grounding.count) == ("model", "tiny", 0.5, 3)
    assert [example["sample_id"] for example in grounding.examples] == ["g2", "g3", "g1"]
    answered = rows[("task_type=grounding", ANSWERED)]
    assert (answered.value, answered.count, answered.examples[0]["sample_id"]) == (0.75, 4, "g4")
    caption = rows[("task_type=caption", "bertscore_f1")]
    assert (caption.value, caption.count) == (pytest.approx(0.55), 2)
    passed = rows[("task_type=caption", PASS_RATE)]
    assert (passed.value, passed.count, [example["sample_id"] for example in passed.examples]) == (0.5, 2, ["c2"])
    assert rows[("task_type=caption", ANSWERED)].value == 1.0
    assert set(rows) == {("task_type=grounding", m) for m in ("grounding_accuracy@iou0.5", ANSWERED)} | {
        ("task_type=caption", m) for m in ("bertscore_f1", PASS_RATE, ANSWERED)
    }
    assert SampleScore.from_json(scores[1].to_json()) == scores[1]
