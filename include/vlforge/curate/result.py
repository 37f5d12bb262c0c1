"""What curate hands back: kept samples with their split and token counts, dropped ones with reasons.

Plain frozen dataclasses, JSON-able through ``to_json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vlforge.records import Sample

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
Stage = Literal["filter", "budget", "dedup"]
# How much of the facts curate_stats.json keeps for the curate gate's messages.
EXAMPLES_PER_REASON = 3
LARGEST_GROUPS_SHOWN = 5


@dataclass(frozen=True)
class Drop:
    """Why one sample left the release: the stage, a reason code, the field and value, and a sentence.

    Attributes:
        sample_id: the dropped sample.
        source_file: the file it was read from.
        record_id: the record in that file.
        stage: ``filter``, ``budget`` or ``dedup``.
        reason: a stable code to count by, e.g. ``min_side`` or ``near_duplicate``.
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
        f"sample {sample.sample_id} ({sample.source.file} record {sample.source.record_id}): {field_name} ({shown}): {detail}"
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
class DuplicatePair:
    """A dropped sample and the kept sample it duplicates, with what was measured.

    Attributes:
        dropped: sample id.
        kept: sample id.
        reason: ``exact_duplicate``, ``near_duplicate`` or ``same_media``.
        measured: e.g. ``pHash distance 2, text Jaccard 0.912, box agreement 1.000``.
    """

    dropped: str
    kept: str
    reason: str
    measured: str

    def describe(self) -> str:
        return f"{self.dropped} duplicates kept {self.kept} ({self.measured})"


@dataclass(frozen=True)
class SplitGroup:
    """Samples that share a split.

    Attributes:
        key: a name for the group: its first sample's item (``item:<id>``), else its first image
            (``image:<sha256 prefix>``), else the sample (``sample:<id>``), by ``sample_id``.
        members: sample ids, sorted.
        linked_by: what joined them, e.g. ``"3 samples share image 3f2a9c1b0d4e; 2 near-duplicate image pairs"``.
        split: the split the group went to.
    """

    key: str
    members: tuple[str, ...]
    linked_by: str
    split: Split

    def describe(self) -> str:
        return f"{self.key} ({len(self.members)} samples in {self.split}: {self.linked_by})"


@dataclass(frozen=True)
class KeptSample:
    """A sample in the release, with its split and its visual tokens per model.

    Attributes:
        sample: the sample, unchanged.
        split: ``train``, ``val`` or ``test``.
        visual_tokens: per model, the tokens of all its images at ``resize_to`` (or the model's own resize).
        resize_to: per model that needed a downscale to fit its budget, one ``(width, height)`` per
            image to resize to before training; the model's processor keeps that size unchanged.
        group: the split group's key (shared by rounds of one item, samples of one image and near-duplicate images).
    """

    sample: Sample
    split: Split
    visual_tokens: Mapping[str, int] = field(default_factory=dict)
    resize_to: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    group: str = ""


@dataclass(frozen=True)
class CurateResult:
    """What curate kept and dropped, with the facts the curate gate checks.

    Attributes:
        kept: the samples in the release with their splits.
        dropped: one ``Drop`` per sample left out, in input order.
        samples_in: how many samples curate was given.
        duplicate_pairs: each sample dropped as a duplicate with the kept sample it duplicates.
        split_groups: the groups that were assigned to splits whole, largest first.
        merged_from: each merged conversation's id and the ids of the samples merged into it.
    """

    kept: tuple[KeptSample, ...]
    dropped: tuple[Drop, ...]
    samples_in: int
    duplicate_pairs: tuple[DuplicatePair, ...] = ()
    split_groups: tuple[SplitGroup, ...] = ()
    merged_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def tally(self) -> CurateTally:
        """The counts of these outcomes (``CurateTally``)."""
        tally = CurateTally()
        pairs = {pair.dropped: pair for pair in self.duplicate_pairs}
        for drop in self.dropped:
            tally.add_drop(drop, pairs.get(drop.sample_id))
        for kept in self.kept:
            tally.add_kept(kept.split)
        return tally

    def counts(self) -> dict[str, int]:
        """Dropped samples per reason code, sorted by code."""
        return self.tally().counts()

    def split_counts(self) -> dict[str, int]:
        return self.tally().split_counts()

    def drop_examples(self) -> dict[str, list[str]]:
        """Up to ``EXAMPLES_PER_REASON`` examples per drop reason: a duplicate's pair, else the drop's message."""
        return self.tally().drop_examples()

    def to_json(self) -> dict[str, Any]:
        """What ``curate_stats.json`` holds: the counts, and the facts the curate gate judges (``vlforge.curate.facts``)."""
        largest = self.split_groups[:LARGEST_GROUPS_SHOWN]
        return self.tally().to_json(self.samples_in, len(self.split_groups), largest, self.merged_from)


class CurateTally:
    """The counts ``curate_stats.json`` holds, taken one sample at a time: a stage streaming its samples keeps only these."""

    def __init__(self) -> None:
        self.kept = 0
        self.dropped = 0
        self._reasons: Counter[str] = Counter()
        self._examples: dict[str, list[str]] = {}
        self._splits: Counter[str] = Counter()

    def add_kept(self, split: Split) -> None:
        self.kept += 1
        self._splits[split] += 1

    def add_drop(self, drop: Drop, pair: DuplicatePair | None) -> None:
        """Count ``drop``; ``pair`` is the duplicate pair when it was dropped as a duplicate (its example names both)."""
        self.dropped += 1
        self._reasons[drop.reason] += 1
        shown = self._examples.setdefault(drop.reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(pair.describe() if pair else drop.message)

    def counts(self) -> dict[str, int]:
        """Dropped samples per reason code, sorted by code."""
        return dict(sorted(self._reasons.items()))

    def split_counts(self) -> dict[str, int]:
        return {split: self._splits.get(split, 0) for split in SPLITS}

    def drop_examples(self) -> dict[str, list[str]]:
        """Up to ``EXAMPLES_PER_REASON`` examples per drop reason: a duplicate's pair, else the drop's message."""
        return {reason: list(shown) for reason, shown in sorted(self._examples.items())}

    def to_json(
        self, samples_in: int, group_count: int, largest_groups: Sequence[SplitGroup], merged_from: Mapping[str, Sequence[str]]
    ) -> dict[str, Any]:
        """What ``curate_stats.json`` holds, given the samples curated, the number of split groups and the
        ``LARGEST_GROUPS_SHOWN`` largest, and any merged conversations."""
        return {
            "samples_in": samples_in,
            "kept": self.kept,
            "dropped": self.dropped,
            "dropped_by_reason": self.counts(),
            "drop_share": self.dropped / samples_in if samples_in else 0.0,
            "merged": sum(len(members) for members in merged_from.values()),
            "merged_conversations": len(merged_from),
            "drop_examples": self.drop_examples(),
            "splits": self.split_counts(),
            "split_groups": group_count,
            "largest_split_groups": [group.describe() for group in largest_groups[:LARGEST_GROUPS_SHOWN]],
        }
