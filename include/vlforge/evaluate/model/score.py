"""Scoring a VLM on one shard of a release's samples, and the evaluation rows of a whole run.

``score_model_on_samples`` asks the model each sample's prompt from the release's export for its
generation (``prompts``), reads the answer in that generation's convention (``answers``) and scores it
against the sample's own annotation (``metrics``); captions and VQA answers against the reference turn
with BERTScore. Every sample gets a ``SampleScore``, whatever happens:

- an answer that cannot be read (garbage, a malformed response body) scores 0 (BERTScore: whatever the
  encoder makes of it), with ``error`` saying what was malformed;
- a request that failed after its retries, or a sample the export does not hold, has ``value`` None
  and ``error`` set: it is counted in the ``errors`` row, not in the metric.

``aggregate_model_scores`` turns the scores of all shards into ``EvaluationRow``s per task type and metric.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from vlforge.config import Recipe
from vlforge.evaluate.model import answers, metrics
from vlforge.evaluate.model.backends import Reply, make_backend
from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.prompts import Prompt, read_prompts, release_recipe
from vlforge.evaluate.results import EvaluationRow
from vlforge.geometry import smart_resize
from vlforge.layout import ReleaseDir
from vlforge.quality.metrics.bertscore import EncoderScorers, text_language
from vlforge.records import Sample

EVALUATOR = "model"
METRICS = {
    "grounding": "grounding_accuracy@iou0.5",
    "ocr": "ocr_accuracy",
    "gui_action": "gui_action_accuracy",
    "video_event": "video_event_accuracy",
    "caption": "bertscore_f1",
    "vqa": "bertscore_f1",
}
PASS_RATE = "bertscore_pass_rate"
# The share of samples that got a score: higher is better, like every evaluation metric (vlforge.evaluate.regression).
ANSWERED = "answered"
ANSWER_CHARS = 500
EXAMPLES = 3


@dataclass(frozen=True)
class SampleScore:
    """One sample's score.

    Args:
        sample_id, task_type: the sample.
        metric: ``METRICS[task_type]``.
        value: the score in ``[0, 1]``; None when the sample could not be asked (``error`` says why) or
            its text is in a language no configured encoder covers.
        parsed: what was read from the answer, as JSON text.
        answer: the raw answer, cut to ``ANSWER_CHARS`` characters.
        error: what went wrong (``""`` when nothing did).
        threshold: for BERTScore, the encoder's calibrated per-sample threshold.
    """

    sample_id: str
    task_type: str
    metric: str
    value: float | None
    parsed: str = ""
    answer: str = ""
    error: str = ""
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleScore:
        return cls(**data)


def score_model_on_samples(
    release: ReleaseDir, samples: list[Sample], backend: ModelBackendConfig, scorers: EncoderScorers | None = None
) -> list[SampleScore]:
    """Ask the model every sample's prompt and score its answer.

    Args:
        release: the published release (its ``RELEASE.json``, exports and images are read).
        samples: one shard's samples (the caller picks the split and the shard).
        backend: the model and how to ask it.
        scorers: BERTScore encoders to reuse between shards; by default made here, loaded on first use.

    Returns:
        One score per sample, in order.
    """
    recipe = release_recipe(release)
    prompts = read_prompts(release, backend.export_format, [sample.sample_id for sample in samples])
    asked = [sample for sample in samples if sample.sample_id in prompts]
    replies = dict(zip([s.sample_id for s in asked], make_backend(backend).answer([prompts[s.sample_id] for s in asked]), strict=True))
    scorers = scorers or EncoderScorers(recipe.quality.bertscore_batch_size)
    scores: dict[str, SampleScore] = {}
    texts: list[tuple[Sample, Prompt, Reply]] = []
    for sample in samples:
        metric = METRICS[sample.task_type]
        reply = replies.get(sample.sample_id)
        if reply is None:
            error = f"sample is not in the release's {backend.export_format} export"
            scores[sample.sample_id] = SampleScore(sample.sample_id, sample.task_type, metric, None, error=error)
        elif reply.text is None:
            scores[sample.sample_id] = SampleScore(sample.sample_id, sample.task_type, metric, None, error=reply.error)
        elif sample.task_type in ("caption", "vqa"):
            texts.append((sample, prompts[sample.sample_id], reply))
        else:
            scores[sample.sample_id] = structured_score(sample, reply, backend, recipe)
    scores.update(text_scores(texts, recipe, scorers))
    return [scores[sample.sample_id] for sample in samples]


def _frame(sample: Sample, index: int, reply: Reply, recipe: Recipe) -> answers.Frame:
    """Image ``index`` of the sample, and the size the model saw it at (the backend's, else the recipe's resize)."""
    image = sample.images[index]
    if index < len(reply.resized_sizes):
        return answers.Frame(image.width, image.height, reply.resized_sizes[index])
    resize = recipe.export.qwen2_5_vl_resize
    height, width = smart_resize(image.height, image.width, resize.factor, resize.min_pixels, resize.max_pixels)
    return answers.Frame(image.width, image.height, (width, height))


def structured_score(sample: Sample, reply: Reply, backend: ModelBackendConfig, recipe: Recipe) -> SampleScore:
    """A grounding, OCR, GUI action or video event answer read and scored (see ``metrics``)."""
    text = reply.text or ""
    generation = backend.generation
    parsed: list[Any]
    value: float | None
    if sample.task_type == "video_event":
        parsed = answers.read_intervals(text)
        value = metrics.video_event_accuracy(parsed, sample.video_events)
    elif not sample.images:
        return SampleScore(sample.sample_id, sample.task_type, METRICS[sample.task_type], None, error="sample has no image")
    elif sample.task_type == "grounding":
        # Boxes on several pictures are asked one picture at a time; the last question is about the last one.
        index = max((box.image_index for box in sample.boxes), default=0)
        boxes = answers.read_boxes(text, generation, _frame(sample, index, reply, recipe))
        parsed = [box.model_dump(mode="json") for box in boxes]
        value = metrics.grounding_accuracy(boxes, [box for box in sample.boxes if box.image_index == index])
    elif sample.task_type == "ocr":
        lines = answers.read_ocr_lines(text, generation, _frame(sample, 0, reply, recipe))
        parsed = [line.model_dump(mode="json") for line in lines]
        value = metrics.ocr_answer_accuracy(lines, sample.ocr_lines)
    else:
        frame = _frame(sample, 0, reply, recipe)
        actions = answers.read_actions(text, generation, frame)
        parsed = [action.model_dump(mode="json") for action in actions]
        value = metrics.gui_action_accuracy(actions, sample.actions, frame.width, frame.height)
    error = reply.error or ("" if parsed else "no readable answer")
    if value is None:
        error = f"sample has no {sample.task_type} annotation to score against"
    return SampleScore(
        sample.sample_id, sample.task_type, METRICS[sample.task_type], value, json.dumps(parsed, ensure_ascii=False), text[:ANSWER_CHARS], error
    )


def text_scores(items: list[tuple[Sample, Prompt, Reply]], recipe: Recipe, scorers: EncoderScorers) -> dict[str, SampleScore]:
    """Caption and VQA answers scored with BERTScore F1 against the reference turn, grouped by encoder."""
    scores: dict[str, SampleScore] = {}
    by_encoder: dict[str, list[tuple[Sample, Prompt, Reply, str]]] = defaultdict(list)
    encoders = {}
    for sample, prompt, reply in items:
        candidate = answers.read_text(reply.text or "")
        language = text_language(prompt.reference)
        encoder = recipe.quality.encoder_for(language)
        if encoder is None:
            scores[sample.sample_id] = SampleScore(
                sample.sample_id, sample.task_type, METRICS[sample.task_type], None, json.dumps(candidate, ensure_ascii=False),
                (reply.text or "")[:ANSWER_CHARS],
                f"no text encoder of quality.text_encoders covers language {language!r}",
            )
            continue
        encoders[encoder.name] = encoder
        by_encoder[encoder.name].append((sample, prompt, reply, candidate))
    for name, group in by_encoder.items():
        f1s = [f1 for _, _, f1 in scorers.score(encoders[name], [item[3] for item in group], [item[1].reference for item in group])]
        for (sample, _, reply, candidate), f1 in zip(group, f1s, strict=True):
            threshold = recipe.quality.bertscore_threshold("per_sample", sample.task_type, name)
            error = reply.error or ("" if candidate else "no readable answer")
            scores[sample.sample_id] = SampleScore(
                sample.sample_id, sample.task_type, METRICS[sample.task_type], f1, json.dumps(candidate, ensure_ascii=False),
                (reply.text or "")[:ANSWER_CHARS], error, threshold,
            )
    return scores


def _example(score: SampleScore) -> dict[str, Any]:
    return {"sample_id": score.sample_id, "value": score.value, "answer": score.answer[:200], "error": score.error}


def aggregate_model_scores(scores: list[SampleScore], model_name: str) -> list[EvaluationRow]:
    """Evaluation rows per task type: the metric's mean, BERTScore's pass rate, and the share of samples answered.

    Args:
        scores: every shard's scores.
        model_name: the model, as ``ModelBackendConfig.model_name``.

    Returns:
        Per task type (subset ``task_type=<type>``), in task type order: the metric (mean over the scored
        samples, the worst ``EXAMPLES`` as examples), for caption and VQA ``bertscore_pass_rate`` (share at
        or above the encoder's calibrated threshold), and ``answered`` (share of samples that got a score,
        with examples of why the others got none).
    """
    by_task: dict[str, list[SampleScore]] = defaultdict(list)
    for score in scores:
        by_task[score.task_type].append(score)
    rows = []
    for task_type in sorted(by_task):
        group = by_task[task_type]
        subset = f"task_type={task_type}"
        scored = sorted((score for score in group if score.value is not None), key=lambda score: (score.value, score.sample_id))
        mean = sum(score.value for score in scored) / len(scored) if scored else None  # type: ignore[misc]
        rows.append(EvaluationRow(EVALUATOR, model_name, METRICS[task_type], subset, mean, len(scored), [_example(s) for s in scored[:EXAMPLES]]))
        judged = [(score, metrics.passes_bertscore(score.value, score.threshold)) for score in scored]
        judged = [(score, passed) for score, passed in judged if passed is not None]
        if task_type in ("caption", "vqa"):
            rate = sum(passed for _, passed in judged) / len(judged) if judged else None
            failed = [_example(score) for score, passed in judged if not passed][:EXAMPLES]
            rows.append(EvaluationRow(EVALUATOR, model_name, PASS_RATE, subset, rate, len(judged), failed))
        errors = [score for score in group if score.value is None]
        rows.append(
            EvaluationRow(EVALUATOR, model_name, ANSWERED, subset, 1 - len(errors) / len(group), len(group), [_example(s) for s in errors[:EXAMPLES]])
        )
    return rows
