"""The local transformers backend with tiny random Qwen2-VL, Qwen2.5-VL and Qwen3-VL folders built offline.

Their answers are noise: the test checks the plumbing (the release's prompts reach the model with their
images, batches come back in order, whatever it says is scored and nothing crashes), not the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from support.tiny_qwen_vl import Generation

from vlforge.evaluate.model.backends import TransformersBackend
from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.prompts import Message, Part, Prompt, read_prompts
from vlforge.evaluate.model.score import METRICS, score_model_on_samples
from vlforge.layout import ReleaseDir
from vlforge.records import Sample

pytestmark = pytest.mark.slow  # builds and runs tiny models

# evaluated generation -> the tiny model that answers in its convention (Qwen-VL's <box> tags: Qwen2-VL)
TINY = {"qwen_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl"}


@pytest.mark.parametrize("generation", list(TINY))
def test_a_random_model_is_scored_not_crashed_on(
    generation: str, evaluation_release: tuple[ReleaseDir, list[Sample]], tiny_qwen_vl: Callable[[Generation], Path]
) -> None:
    release, samples = evaluation_release
    config = ModelBackendConfig(
        kind="transformers", generation=generation, model_path=str(tiny_qwen_vl(TINY[generation])), batch_size=3, max_new_tokens=12  # type: ignore[arg-type]
    )
    scores = score_model_on_samples(release, samples, config)
    assert [(score.sample_id, score.metric) for score in scores] == [(s.sample_id, METRICS[s.task_type]) for s in samples]
    for score in scores:
        if score.task_type == "video_event":
            # Not in the Qwen-VL export; elsewhere refused by the image-only local backend.
            assert score.value is None and score.error
        else:
            assert score.value is not None and 0.0 <= score.value <= 1.0, score
            assert len(score.answer) <= 500


def test_batched_answers_equal_one_by_one_answers_with_each_images_resized_size(
    evaluation_release: tuple[ReleaseDir, list[Sample]], tiny_qwen_vl: Callable[[Generation], Path]
) -> None:
    release, samples = evaluation_release
    images = [sample for sample in samples if not sample.videos]
    prompts = read_prompts(release, "qwen2_5_vl", [sample.sample_id for sample in images])
    config = ModelBackendConfig(kind="transformers", generation="qwen2_5_vl", model_path=str(tiny_qwen_vl("qwen2_5_vl")), max_new_tokens=8)
    ordered = [prompts[sample.sample_id] for sample in images]
    together = TransformersBackend(config.model_copy(update={"batch_size": len(ordered)})).answer(ordered)
    alone = TransformersBackend(config.model_copy(update={"batch_size": 1})).answer(ordered)
    assert [(reply.text, reply.resized_sizes) for reply in together] == [(reply.text, reply.resized_sizes) for reply in alone]
    for reply, sample in zip(together, images, strict=True):
        (size,) = reply.resized_sizes
        with Image.open(prompts[sample.sample_id].media("image")[0]) as image:
            assert image.size == (sample.images[0].width, sample.images[0].height)
        assert size[0] % 28 == 0 and size[1] % 28 == 0  # the tiny processor's grid: 14-pixel patches merged 2x2
        assert reply.error == "" and isinstance(reply.text, str)


def test_a_prompt_the_model_cannot_take_is_an_error_and_its_batch_goes_on(tiny_qwen_vl: Callable[[Generation], Path]) -> None:
    config = ModelBackendConfig(kind="transformers", generation="qwen_vl", model_path=str(tiny_qwen_vl("qwen2_vl")), max_new_tokens=4)
    fine = Prompt("fine", (Message("user", (Part("text", "hello"),)),), "hi")
    # Text that asks for image features without an image: the processor refuses it.
    refused = Prompt("refused", (Message("user", (Part("text", "look <|vision_start|><|image_pad|><|vision_end|>"),)),), "x")
    missing = Prompt("missing", (Message("user", (Part("image", "/nonexistent/image.png"), Part("text", "hi"))),), "x")
    video = Prompt("video", (Message("user", (Part("video", "/clip.mp4"), Part("text", "what happens?"))),), "x")
    replies = TransformersBackend(config.model_copy(update={"batch_size": 4})).answer([fine, refused, video, missing, fine])
    assert [reply.text is not None for reply in replies] == [True, False, False, False, True]
    assert replies[1].error.startswith("local model failed: ValueError") and "image_pad" in replies[1].error
    assert replies[2].error.startswith("video prompt")
    assert replies[3].error.startswith("image unreadable")
    assert replies[0] == replies[4]
