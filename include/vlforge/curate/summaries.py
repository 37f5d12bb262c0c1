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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlforge.curate.config import DedupConfig
from vlforge.curate.text import normalize_text, normalized_turns
from vlforge.records import Box, Sample

# An action given as a point is compared as a box this share of the image's sides wide and high.
POINT_BOX_SIDE = 0.02


class TextColumn:
    """Strings in one UTF-8 buffer with an offset each: a string costs its bytes and eight more, where a ``str`` costs 57 more."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("Q", [0])

    def append(self, text: str) -> None:
        self._data += text.encode("utf-8")
        self._offsets.append(len(self._data))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, position: int) -> str:
        return self._data[self._offsets[position] : self._offsets[position + 1]].decode("utf-8")

    def repeated(self) -> list[int]:
        """The positions whose string occurs at an earlier position too, ascending."""
        if len(self) < 2:
            return []
        widths = np.diff(np.asarray(self._offsets, dtype=np.uint64))
        if np.all(widths == widths[0]) and widths[0] > 0:  # the usual case, ids of one length: read in place
            values = np.frombuffer(self._data, dtype=f"S{int(widths[0])}")
        else:
            values = np.array([self[position].encode("utf-8") for position in range(len(self))], dtype=object)
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        return sorted(order[1:][ordered[1:] == ordered[:-1]].tolist())


class DigestColumn:
    """A list of sha256 hex digests per row, stored as 32 bytes a digest and one offset a row."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("Q", [0])

    def append(self, digests: Sequence[str]) -> None:
        for digest in digests:
            self._data += bytes.fromhex(digest)
        self._offsets.append(len(self._data))

    def row(self, position: int) -> bytes:
        """The row's digests, concatenated: equal rows have equal bytes."""
        return bytes(self._data[self._offsets[position] : self._offsets[position + 1]])

    def __getitem__(self, position: int) -> tuple[str, ...]:
        row = self.row(position)
        return tuple(row[start : start + 32].hex() for start in range(0, len(row), 32))


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
    """The summaries of many samples, by position: ids, item, gold flag, media, and the row each was read from."""

    def __init__(self) -> None:
        self._ids = TextColumn()
        self._items = TextColumn()
        self._gold = bytearray()
        self._images = DigestColumn()
        self._videos = DigestColumn()
        self._rows = array("Q")

    def add(self, sample: Sample, row: int = 0) -> None:
        """Appends ``sample``'s summary at the next position; ``row`` is where it was read (``row_of``)."""
        self._ids.append(sample.sample_id)
        self._items.append(sample.item_id)
        self._gold.append(sample.gold)
        self._images.append([image.sha256 for image in sample.images])
        self._videos.append([video.sha256 for video in sample.videos])
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._ids)

    def sample_id(self, position: int) -> str:
        return self._ids[position]

    def item_id(self, position: int) -> str:
        return self._items[position]

    def is_gold(self, position: int) -> bool:
        return bool(self._gold[position])

    def image_shas(self, position: int) -> tuple[str, ...]:
        return self._images[position]

    def video_shas(self, position: int) -> tuple[str, ...]:
        return self._videos[position]

    def row_of(self, position: int) -> int:
        return self._rows[position]

    def same_files(self, first: int, second: int) -> bool:
        """Whether the two samples have the same image and video files in the same order."""
        return self._images.row(first) == self._images.row(second) and self._videos.row(first) == self._videos.row(second)

    def repeated_ids(self) -> frozenset[str]:
        """The sample ids that occur at more than one position."""
        return frozenset(self._ids[position] for position in self._ids.repeated())


class SummarySubset:
    """Some positions of a ``SampleSummaries``, renumbered from 0 in their order: the samples dedup kept."""

    def __init__(self, summaries: SampleSummaries, positions: Sequence[int]) -> None:
        self.summaries = summaries
        self.positions = array("Q", positions)

    def __len__(self) -> int:
        return len(self.positions)

    def sample_id(self, position: int) -> str:
        return self.summaries.sample_id(self.positions[position])

    def item_id(self, position: int) -> str:
        return self.summaries.item_id(self.positions[position])

    def image_shas(self, position: int) -> tuple[str, ...]:
        return self.summaries.image_shas(self.positions[position])
