"""What curate hands back: kept samples with their split and token counts, dropped ones with reasons.

Plain frozen dataclasses, JSON-able through ``to_json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from vlforge.records import Sample

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
Stage = Literal["filter", "budget", "dedup"]


@dataclass(frozen=True)
class Drop:
    """Why one sample left the release: the stage, a reason code, the field and value, and a sentence.

    Attributes:
        sample_id: the dropped sample.
        source_file: the file it was read from.
        record_id: the record in that file.
        stage: ``filter``, ``budget`` or ``dedup``.
        reason: a stable code to count by, e.g. ``min_side`` or ``near_duplicate_image``.
        field: the sample field at fault, e.g. ``images[1].width``.
        value: the offending value as text.
        message: a sentence a person understands, naming all of the above.
    """

    sample_id: str
    source_file: str
    record_id: str
    stage: Stage
    reason: str
    field: str
    value: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "sample_id": self.sample_id,
            "source_file": self.source_file,
            "record_id": self.record_id,
            "stage": self.stage,
            "reason": self.reason,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


def make_drop(sample: Sample, stage: Stage, reason: str, field_name: str, value: object, detail: str) -> Drop:
    """A ``Drop`` whose message starts with the sample, its source record, the field and the value."""
    shown = str(value)
    message = (
        f"sample {sample.sample_id} ({sample.source.file} record {sample.source.record_id}): "
        f"{field_name} ({shown}): {detail}"
    )
    return Drop(
        sample_id=sample.sample_id,
        source_file=sample.source.file,
        record_id=sample.source.record_id,
        stage=stage,
        reason=reason,
        field=field_name,
        value=shown,
        message=message,
    )


@dataclass(frozen=True)
class KeptSample:
    """A sample in the release, with its split and its visual tokens per model.

    Attributes:
        sample: the sample, unchanged.
        split: ``train``, ``val`` or ``test``.
        visual_tokens: per model, the tokens of all its images at ``resize_to`` (or the model's own resize).
        resize_to: per model that needed a downscale to fit its budget, one ``(width, height)`` per
            image to resize to before training; the model's processor keeps that size unchanged.
        group: the split group's key (shared by near-duplicates and rounds of one item).
    """

    sample: Sample
    split: Split
    visual_tokens: Mapping[str, int] = field(default_factory=dict)
    resize_to: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    group: str = ""


@dataclass(frozen=True)
class CurateResult:
    kept: tuple[KeptSample, ...]
    dropped: tuple[Drop, ...]

    def counts(self) -> dict[str, int]:
        """Dropped samples per reason code, sorted by code."""
        return dict(sorted(Counter(drop.reason for drop in self.dropped).items()))

    def split_counts(self) -> dict[str, int]:
        counts = Counter(kept.split for kept in self.kept)
        return {split: counts.get(split, 0) for split in SPLITS}

    def to_json(self) -> dict[str, object]:
        """A small JSON-able summary (for a task's return value or a report)."""
        return {
            "kept": len(self.kept),
            "dropped": len(self.dropped),
            "dropped_by_reason": self.counts(),
            "splits": self.split_counts(),
        }
