"""Sample filters: each drop names the sample, its source record, the field and the value."""

from __future__ import annotations

import pytest
from curate_helpers import boxes, make_sample

from vlforge.curate.config import FilterConfig
from vlforge.curate.filters import filter_drops, sample_stats
from vlforge.records import ImageRef, Sample, Turn


def _image(width: int, height: int) -> ImageRef:
    return ImageRef(sha256="1" * 64, width=width, height=height, format="jpg")


PHOTO = _image(640, 428)
STRICT = FilterConfig(min_side=32, max_side=4096, max_aspect_ratio=10, min_text_chars=10, max_text_chars=200)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (make_sample("ok", (PHOTO,)), []),
        (make_sample("tiny", (PHOTO, _image(20, 100))), [("min_side", "images[1].size", "20x100")]),
        (make_sample("huge", (_image(5000, 3000),)), [("max_side", "images[0].size", "5000x3000")]),
        (make_sample("strip", (_image(1100, 100),)), [("aspect_ratio", "images[0].size", "1100x100")]),
        (make_sample("short", (PHOTO,), answer="Hi", question="Q?"), [("text_too_short", "conversations", "4")]),
        (make_sample("long", (PHOTO,), answer="x" * 200), [("text_too_long", "conversations", "220")]),
        (make_sample("blank", (PHOTO,), answer="   "), [("empty_answer", "conversations[1].content", "'   '")]),
        (make_sample("bare", (PHOTO,), answer=None), [("no_annotation", "conversations", "()")]),
        (make_sample("boxes-only", (PHOTO,), answer=None, task_type="grounding", boxes=boxes("bus")), []),
        (
            make_sample("twice", (_image(20, 1100),), answer=""),
            [
                ("min_side", "images[0].size", "20x1100"),
                ("aspect_ratio", "images[0].size", "20x1100"),
                ("empty_answer", "conversations[1].content", "''"),
            ],
        ),
    ],
    ids=lambda value: value.sample_id if isinstance(value, Sample) else "",
)
def test_filters_with_reasons(sample: Sample, expected: list[tuple[str, str, str]]) -> None:
    drops = filter_drops(sample, sample_stats(sample), STRICT)
    assert [(drop.reason, drop.field, drop.value) for drop in drops] == expected
    for drop in drops:
        assert (drop.sample_id, drop.source_file, drop.record_id, drop.stage) == (
            sample.sample_id,
            "export.json",
            f"rec-{sample.sample_id}",
            "filter",
        )
        assert drop.message.startswith(f"sample {sample.sample_id} (export.json record rec-{sample.sample_id}): {drop.field} ({drop.value}): ")


def test_messages_give_the_threshold() -> None:
    sample = make_sample("tiny", (_image(20, 100),))
    (drop,) = filter_drops(sample, sample_stats(sample), STRICT)
    assert drop.message == "sample tiny (export.json record rec-tiny): images[0].size (20x100): shorter side 20 px is below min_side 32"


def test_stats_are_what_the_filters_read() -> None:
    sample = make_sample("s", (PHOTO, _image(100, 400)), answer="A bus.")
    sample = sample.model_copy(update={"conversations": sample.conversations + (Turn(role="assistant", content=" "),)})
    stats = sample_stats(sample)
    assert stats.sizes == ((640, 428), (100, 400))
    assert stats.aspect_ratios == pytest.approx((640 / 428, 4.0))
    assert stats.text_chars == len("Describe this image.") + len("A bus.")
    assert (stats.has_conversation, stats.empty_answers, stats.has_annotation) == (True, (2,), True)


def test_switched_off_checks_pass_everything() -> None:
    lenient = FilterConfig(min_side=None, max_side=None, max_aspect_ratio=None, max_text_chars=None, drop_empty_answers=False)
    sample = make_sample("any", (_image(2, 900),), answer="")
    assert filter_drops(sample, sample_stats(sample), lenient) == []


def test_config_rejects_crossed_bounds() -> None:
    with pytest.raises(ValueError, match="min_side 100 is above max_side 50"):
        FilterConfig(min_side=100, max_side=50)
