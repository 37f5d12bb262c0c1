"""What dedup and the splits read of each sample: its ids and media in columns (about a hundred bytes a
sample), and for the few samples that dedup checks in full, their annotations' ``SampleDetail``.

Curate's survey keeps the summaries of every sample of a manifest at once (``vlforge.curate.pipeline``), so
no sample gets a Python object of its own: each field is one column over all samples (the ids in one UTF-8
buffer with offsets, sha256 digests as 32 bytes, numbers in typed arrays). A sample is addressed by its
position: the order it was added in. The details (exact key and boxes) are read again for the samples of
candidate pairs only.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from vlforge.curate.columns import DigestColumn, TextColumn
from vlforge.curate.config import DedupConfig
from vlforge.curate.text import normalize_text, normalized_turns
from vlforge.records import Box, Sample

# An action given as a point is compared as a box this share of the image's sides wide and high.
POINT_BOX_SIDE = 0.02


def exact_key(sample: Sample) -> str:
    """sha256 of the sample's image and video hashes, normalised turns and structured annotations."""
    annotations = sample.model_dump(mode="json", include={"boxes", "ocr_lines", "actions", "video_events", "choices"})
    payload = [
        [image.sha256 for image in sample.images],
        [video.sha256 for video in sample.videos],
        normalized_turns(sample),
        annotations,
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def relative_boxes(sample: Sample) -> list[Box]:
    """Every box of the sample in fractions of its image's sides, labelled by kind and label.

    Object boxes, OCR line boxes (labelled with the line's text) and action targets; an action
    given only as a point becomes a box ``POINT_BOX_SIDE`` of the sides wide around it.
    """
    located: list[tuple[str, Box]] = [(f"object:{box.label}", box) for box in sample.boxes]
    located += [(f"ocr:{normalize_text(line.text)}", line.box) for line in sample.ocr_lines if line.box]
    for action in sample.actions:
        if action.box:
            located.append((f"action:{action.type}", action.box))
        elif action.point and sample.images:
            image = sample.images[0]
            half_w, half_h = POINT_BOX_SIDE * image.width / 2, POINT_BOX_SIDE * image.height / 2
            x, y = action.point
            located.append((f"action:{action.type}", Box(x1=x - half_w, y1=y - half_h, x2=x + half_w, y2=y + half_h)))
    relative = []
    for label, box in located:
        image = sample.images[box.image_index] if box.image_index < len(sample.images) else None
        width, height = (image.width, image.height) if image else (1, 1)
        relative.append(
            Box(
                x1=box.x1 / width,
                y1=box.y1 / height,
                x2=box.x2 / width,
                y2=box.y2 / height,
                label=label,
                image_index=box.image_index,
            )
        )
    return relative


@dataclass(frozen=True)
class SampleDetail:
    """What dedup checks of a candidate pair beyond the media: the ``exact_key`` and the ``relative_boxes``."""

    exact: str
    boxes: tuple[Box, ...]


def sample_detail(sample: Sample, config: DedupConfig) -> SampleDetail:
    """``sample``'s detail; its boxes only when annotations are compared (``level: sample``)."""
    return SampleDetail(exact=exact_key(sample), boxes=tuple(relative_boxes(sample)) if config.level == "sample" else ())


class SampleSummaries:
    """The summaries of many samples, by position: ids, item, gold flag, media, and the row each was read from.

    Attributes:
        ids: each sample's ``sample_id``.
        items: each sample's ``item_id`` (empty when it has none).
        gold: 1 for a gold sample, else 0.
        images: the sha256 of each of its images, in order.
        videos: the sha256 of each of its videos, in order.
        rows: where each was read (``add``'s ``row``).
    """

    def __init__(self) -> None:
        self.ids = TextColumn()
        self.items = TextColumn()
        self.gold = bytearray()
        self.images = DigestColumn()
        self.videos = DigestColumn()
        self.rows = array("Q")

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> SampleSummaries:
        """The summaries of ``samples``, each at its index."""
        summaries = cls()
        for row, sample in enumerate(samples):
            summaries.add(sample, row)
        return summaries

    def take(self, positions: Iterable[int]) -> SampleSummaries:
        """New summaries of the samples at ``positions``, renumbered from 0 in that order."""
        listed = array("Q", positions)
        taken = SampleSummaries()
        taken.ids, taken.items = self.ids.take(listed), self.items.take(listed)
        taken.gold = bytearray(self.gold[position] for position in listed)
        taken.images, taken.videos = self.images.take(listed), self.videos.take(listed)
        taken.rows = array("Q", (self.rows[position] for position in listed))
        return taken

    def add(self, sample: Sample, row: int = 0) -> None:
        """Appends ``sample``'s summary at the next position; ``row`` is where it was read (``row_of``)."""
        self.ids.append(sample.sample_id)
        self.items.append(sample.item_id)
        self.gold.append(sample.gold)
        self.images.append([image.sha256 for image in sample.images])
        self.videos.append([video.sha256 for video in sample.videos])
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.ids)

    def sample_id(self, position: int) -> str:
        return self.ids[position]

    def item_id(self, position: int) -> str:
        return self.items[position]

    def is_gold(self, position: int) -> bool:
        return bool(self.gold[position])

    def image_shas(self, position: int) -> tuple[str, ...]:
        return self.images[position]

    def video_shas(self, position: int) -> tuple[str, ...]:
        return self.videos[position]

    def row_of(self, position: int) -> int:
        return self.rows[position]

    def same_files(self, first: int, second: int) -> bool:
        """Whether the two samples have the same image and video files in the same order."""
        return self.images.row(first) == self.images.row(second) and self.videos.row(first) == self.videos.row(second)

    def repeated_ids(self) -> frozenset[str]:
        """The sample ids that occur at more than one position."""
        return frozenset(self.ids[position] for position in self.ids.repeated())
