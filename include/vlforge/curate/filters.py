"""Sample filters: image sides, aspect ratio, conversation length, empty answers.

As in Data-Juicer, a statistic is computed first (``sample_stats``) and the
thresholds are applied to it afterwards (``filter_drops``), so that reports and
gates can read the same numbers the filter used. Every drop names the sample, its
source record, the field and the value. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlforge.curate.config import FilterConfig
from vlforge.curate.result import Drop, make_drop
from vlforge.curate.text import conversation_chars
from vlforge.records import Sample


@dataclass(frozen=True)
class SampleStats:
    """What the filters measure on one sample.

    Attributes:
        sizes: ``(width, height)`` of each image.
        aspect_ratios: ``max(w, h) / min(w, h)`` of each image.
        text_chars: characters of the conversation without media tags (0 without a conversation).
        has_conversation: whether the sample has turns.
        empty_answers: indices of assistant turns that are empty or whitespace.
        has_annotation: whether there is anything to train on (an answer or structured annotations).
    """

    sizes: tuple[tuple[int, int], ...]
    aspect_ratios: tuple[float, ...]
    text_chars: int
    has_conversation: bool
    empty_answers: tuple[int, ...]
    has_annotation: bool


def sample_stats(sample: Sample) -> SampleStats:
    """Measure ``sample`` for the filters."""
    sizes = tuple((image.width, image.height) for image in sample.images)
    answers = [(index, turn) for index, turn in enumerate(sample.conversations) if turn.role == "assistant"]
    empty = tuple(index for index, turn in answers if not turn.content.strip())
    structured = bool(sample.boxes or sample.ocr_lines or sample.actions or sample.video_events or sample.choices)
    return SampleStats(
        sizes=sizes,
        aspect_ratios=tuple(max(w, h) / min(w, h) for w, h in sizes),
        text_chars=conversation_chars(sample),
        has_conversation=bool(sample.conversations),
        empty_answers=empty,
        has_annotation=structured or len(answers) > len(empty),
    )


def filter_drops(sample: Sample, stats: SampleStats, config: FilterConfig) -> list[Drop]:
    """Every filter ``sample`` fails, in the order: sides, aspect ratio, text length, empty answers.

    Args:
        sample: the sample (for its id and source in the reasons).
        stats: its ``sample_stats``.
        config: the thresholds.

    Returns:
        One ``Drop`` per failed check; empty when the sample passes.
    """
    drops: list[Drop] = []

    def fail(reason: str, field_name: str, value: object, detail: str) -> None:
        drops.append(make_drop(sample, "filter", reason, field_name, value, detail))

    for index, ((width, height), ratio) in enumerate(zip(stats.sizes, stats.aspect_ratios, strict=True)):
        size_field, size = f"images[{index}].size", f"{width}x{height}"
        short, long = min(width, height), max(width, height)
        if config.min_side is not None and short < config.min_side:
            fail("min_side", size_field, size, f"shorter side {short} px is below min_side {config.min_side}")
        if config.max_side is not None and long > config.max_side:
            fail("max_side", size_field, size, f"longer side {long} px is above max_side {config.max_side}")
        if config.max_aspect_ratio is not None and ratio > config.max_aspect_ratio:
            limit = config.max_aspect_ratio
            fail("aspect_ratio", size_field, size, f"aspect ratio {ratio:.2f} is above max_aspect_ratio {limit}")
    chars = stats.text_chars
    if stats.has_conversation:
        if config.min_text_chars is not None and chars < config.min_text_chars:
            fail("text_too_short", "conversations", chars, f"{chars} characters is below min_text_chars {config.min_text_chars}")
        if config.max_text_chars is not None and chars > config.max_text_chars:
            fail("text_too_long", "conversations", chars, f"{chars} characters is above max_text_chars {config.max_text_chars}")
    if config.drop_empty_answers:
        for index in stats.empty_answers:
            content = sample.conversations[index].content
            fail("empty_answer", f"conversations[{index}].content", repr(content), "assistant answer is empty")
        if not stats.has_annotation and not stats.empty_answers:
            detail = "sample has no answer and no boxes, OCR lines, actions, events or choices"
            fail("no_annotation", "conversations", "()", detail)
    return drops
