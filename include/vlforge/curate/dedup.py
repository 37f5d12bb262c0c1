"""Duplicate detection that keeps annotators' work: a sample is dropped only as a copy of a sample that is kept.

Two samples are **duplicates** when both of these hold:

* **media**: the same number of images and videos; videos are the same files (sha256) and
  each image is a near-duplicate of the other sample's image at the same position: the
  same file, or 64-bit perceptual hashes (``imagehash.phash`` of the stored file: 32x32
  greyscale, DCT, the 8x8 low frequencies against their median) at most
  ``image_max_distance`` bits apart. Re-encoding and resizing change few bits; different
  photos differ in about half of them.
* **annotations** (``level: sample``, the default): the annotation texts (conversation,
  OCR lines, choices, actions, video events; normalised by ``vlforge.curate.text``) have
  character ``text_shingle_size``-gram sets with Jaccard ``|A & B| / |A | B|`` of at least
  ``text_min_jaccard``, and their boxes agree. Boilerplate is left out of the Jaccard:
  an n-gram that more than ``boilerplate_share`` of the samples (and more than
  ``boilerplate_min_samples`` of them) contain is a prompt template or a fixed
  instruction, and two questions built on one template are compared on what differs
  (when both texts are nothing but boilerplate, their whole n-gram sets are compared).
  Boxes (objects, OCR lines, action targets; an action point as a box of 2% of the
  image's sides around it) are taken relative to their image's size, so a half-size
  copy's boxes match, and must agree by ``vlforge.quality.metrics.iou.iou_agreement``
  (one-to-one per label, unmatched boxes count 0) of at least ``box_min_iou``.
  With ``level: image`` the media alone decide (caption-pair data: one caption per image).

Which duplicates are dropped: samples are visited gold first, then those with fewer
duplicates first, then by ``sample_id``; a sample that duplicates an already kept sample
is dropped, naming that sample and the measured values, and every other sample is kept.
So a dropped sample is always itself a duplicate of a kept one, and no two kept samples
are duplicates of each other: a chain ``A ~ B ~ ... ~ Z`` of pairwise duplicates whose
ends differ never collapses into one sample. Its ends usually have the fewest duplicates
and are visited first, so they are kept, with every sample between them that no kept
neighbour duplicates. Samples of one image with different annotations are all kept.

Candidate pairs come from the texts (prefix filtering, exact: ``similar_sets``) and, for
samples without annotation text and for ``level: image``, from samples whose first images
are near-duplicates; every candidate is then checked in full.

Exact duplicates (same image and video files, same normalised turns and structured
annotations) are reported as ``exact_duplicate``, other duplicates as
``near_duplicate`` (``level: sample``) or ``same_media`` (``level: image``).

``find_duplicates`` also returns the near-duplicate image pairs, which the splits use to
keep copies of one picture out of different splits. Pure functions apart from reading
stored images.

Dedup decides on ``SampleSummary``s, not samples (``choose_duplicates``): each holds what the
comparisons read (ids, media, the exact key's digest, relative boxes) in a few hundred bytes, and
the n-gram ids of all samples lie beside them in one ``GramTable`` (four bytes an n-gram), so the
curate stage can summarise a manifest of any size one batch at a time and keep none of its samples.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from vlforge.curate.config import DedupConfig
from vlforge.curate.result import Drop, DuplicatePair, make_drop
from vlforge.curate.text import normalize_text, normalized_turns
from vlforge.quality.metrics.iou import iou_agreement
from vlforge.records import Box, ImageRef, Sample
from vlforge.store import ImageStore

Token = TypeVar("Token", bound=Hashable)

# Ids rewritten per step in a GramTable (boilerplate left out, ranks): a small copy at a time, not the whole table.
COMPACT_BLOCK = 1 << 18
COMPACT_ROWS = 1 << 10

# An action given as a point is compared as a box this share of the image's sides wide and high.
POINT_BOX_SIDE = 0.02


@dataclass(frozen=True)
class ImageLink:
    """Two distinct stored images whose perceptual hashes are at most ``image_max_distance`` bits apart."""

    first: str
    second: str
    distance: int


@dataclass(frozen=True)
class DedupResult:
    """The keep/drop decision and the facts behind it.

    Attributes:
        order: sample ids in the order they were visited.
        kept: ids of the samples kept, in that order.
        drops: one ``Drop`` per sample dropped as a duplicate.
        pairs: one ``DuplicatePair`` per dropped sample.
        image_links: near-duplicate pairs of distinct images (for the splits).
    """

    order: tuple[str, ...]
    kept: tuple[str, ...]
    drops: tuple[Drop, ...]
    pairs: tuple[DuplicatePair, ...]
    image_links: tuple[ImageLink, ...]


def check_unique_ids(samples: Iterable[Sample]) -> None:
    """Raises ValueError naming a sample id that occurs twice, with both source records."""
    seen: dict[str, Sample] = {}
    for sample in samples:
        earlier = seen.setdefault(sample.sample_id, sample)
        if earlier is not sample:
            raise ValueError(
                f"sample_id {sample.sample_id!r} occurs twice ({earlier.source.file} record "
                f"{earlier.source.record_id}, {sample.source.file} record {sample.source.record_id})"
            )


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


def perceptual_hash(path: Path) -> int:
    """The 64-bit ``imagehash.phash`` of the image at ``path`` as an integer."""
    import imagehash  # imported here: scipy is heavy and recipes import this package at DAG parse time
    from PIL import Image

    with Image.open(path) as image:
        return int(str(imagehash.phash(image)), 16)


def image_hashes(samples: Sequence[Sample], store: ImageStore, cache: MutableMapping[str, int] | None = None) -> dict[str, int]:
    """The pHash of every distinct stored image of ``samples``, computed once per sha256.

    Args:
        samples: samples whose images are in ``store``.
        store: the content-addressed image store.
        cache: sha256 -> hash from earlier runs; filled in with new hashes.

    Returns:
        sha256 -> 64-bit pHash for every image of ``samples``.

    Raises:
        FileNotFoundError: naming the sample, the image field, the sha256 and the path when a file is missing.
    """
    known = cache if cache is not None else {}
    hashes: dict[str, int] = {}
    for sample in samples:
        for index, image in enumerate(sample.images):
            if image.sha256 in hashes:
                continue
            if image.sha256 not in known:
                path = store.path_for(image.sha256, image.format)
                if not path.is_file():
                    raise FileNotFoundError(
                        f"sample {sample.sample_id} ({sample.source.file} record {sample.source.record_id}): "
                        f"images[{index}].sha256={image.sha256} is not in the image store at {path}"
                    )
                known[image.sha256] = perceptual_hash(path)
            hashes[image.sha256] = known[image.sha256]
    return hashes


def hamming_pairs(hashes: Sequence[int], max_distance: int) -> list[tuple[int, int, int]]:
    """Index pairs ``(i, j, distance)``, ``i < j``, of 64-bit hashes at most ``max_distance`` bits apart.

    All pairs are compared with XOR and popcount in row blocks that keep memory near 32 MB.
    """
    count = len(hashes)
    if count < 2:
        return []
    values = np.array(hashes, dtype=np.uint64)
    block = max(1, (1 << 22) // count)
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, count, block):
        rows = values[start : start + block]
        distances = np.bitwise_count(rows[:, None] ^ values[None, :])
        for row, column in zip(*np.nonzero(distances <= max_distance), strict=True):
            i = start + int(row)
            if i < int(column):
                pairs.append((i, int(column), int(distances[row, column])))
    return sorted(pairs)


def near_image_links(
    samples: Sequence[Sample], store: ImageStore, max_distance: int | None, cache: MutableMapping[str, int] | None = None
) -> list[ImageLink]:
    """Pairs of distinct images of ``samples`` at most ``max_distance`` pHash bits apart (none when it is None)."""
    if max_distance is None:
        return []
    return image_links(image_hashes(samples, store, cache), max_distance)


def image_links(hashes: Mapping[str, int], max_distance: int | None) -> list[ImageLink]:
    """Pairs of distinct images among ``hashes`` (sha256 -> pHash) at most ``max_distance`` bits apart (none when it is None)."""
    if max_distance is None:
        return []
    shas = sorted(hashes)
    return [
        ImageLink(shas[i], shas[j], distance) for i, j, distance in hamming_pairs([hashes[sha] for sha in shas], max_distance)
    ]


def shingles(text: str, size: int) -> frozenset[str]:
    """Character ``size``-grams of ``text``; a text shorter than ``size`` is its own single shingle."""
    if len(text) <= size:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[index : index + size] for index in range(len(text) - size + 1))


def jaccard(first: Collection[Token], second: Collection[Token]) -> float:
    """``|A & B| / |A | B|`` of two collections of distinct tokens (sets, or ``SampleSummarizer.grams``); 1.0 when both are empty.

    Fastest with a set first: the second is only iterated.
    """
    if not first and not second:
        return 1.0
    probe = first if isinstance(first, frozenset | set) else frozenset(first)
    shared = len(probe.intersection(second))
    return shared / (len(first) + len(second) - shared)


def without(tokens: Collection[Token], common: frozenset[Token]) -> Collection[Token]:
    """``tokens`` less the ``common`` ones, of the same kind: a set stays a set, an ``array`` of gram ids an ``array``.

    ``tokens`` itself when it holds none of them (no copy).
    """
    if common.isdisjoint(tokens):
        return tokens
    if isinstance(tokens, array):
        return array(tokens.typecode, (token for token in tokens if token not in common))
    return frozenset(tokens) - common


def annotation_text(sample: Sample) -> str:
    """Everything annotated as text, normalised: conversation turns, OCR lines, choices, actions, video events."""
    parts = [f"{role} {content}" for role, content in normalized_turns(sample) if content]
    parts += [f"ocr {normalize_text(line.text)}" for line in sample.ocr_lines]
    parts += [f"choice {normalize_text(choice)}" for choice in sample.choices]
    parts += [f"action {action.type} {normalize_text(action.text)}" for action in sample.actions]
    parts += [f"event {event.start_s:.1f} {event.end_s:.1f} {normalize_text(event.description)}" for event in sample.video_events]
    return " | ".join(parts)


def boilerplate(sets: Iterable[Collection[Token]], share: float, min_samples: int) -> frozenset[Token]:
    """The n-grams that more than ``share`` of the sets, and more than ``min_samples`` of them, contain (``GramTable.common``)."""
    listed = list(sets)
    tokens = sorted({token for tokens in listed for token in tokens})
    return frozenset(tokens[number] for number in GramTable.from_sets(listed).common(share, min_samples).tolist())


def text_similarity(first: Collection[Token], second: Collection[Token], common: frozenset[Token]) -> float:
    """Jaccard of two n-gram sets without the ``common`` ones; of the whole sets when neither has any other."""
    first_own, second_own = without(first, common), without(second, common)
    if not first_own and not second_own:
        return jaccard(first, second)
    return jaccard(first_own, second_own)


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


def box_agreement(boxes_a: Sequence[Box], boxes_b: Sequence[Box]) -> float:
    """``iou_agreement`` of two samples' relative boxes; 1.0 when neither has any."""
    if not boxes_a and not boxes_b:
        return 1.0
    return iou_agreement(list(boxes_a), list(boxes_b))


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """What dedup and the splits need of one sample: a few hundred bytes where the sample holds kilobytes.

    Curate keeps one per sample of a manifest of any size, so the parts are stored compactly.

    Attributes:
        sample_id: the sample's id.
        gold: whether it is a gold sample (kept first).
        item_id: its item (rounds of one item share a split).
        images: its image references (one tuple shared by every sample with the same images).
        video_shas: the sha256 of each of its videos.
        exact: the sha256 digest of ``exact_key`` (empty when dedup is off).
        box_labels: the label of each of its ``relative_boxes``.
        box_values: ``x1, y1, x2, y2, image_index`` of each relative box, one box after the other.
    """

    sample_id: str
    gold: bool
    item_id: str
    images: tuple[ImageRef, ...]
    video_shas: tuple[str, ...]
    exact: bytes
    box_labels: tuple[str, ...]
    box_values: array

    def boxes(self) -> list[Box]:
        """The ``relative_boxes`` of the sample, as they were summarised."""
        values = self.box_values
        return [
            Box(
                x1=values[5 * index],
                y1=values[5 * index + 1],
                x2=values[5 * index + 2],
                y2=values[5 * index + 3],
                label=label,
                image_index=int(values[5 * index + 4]),
            )
            for index, label in enumerate(self.box_labels)
        ]


class SampleSummarizer:
    """Summarises samples for dedup and the splits (``SampleSummary``), with what samples share stored once.

    Each distinct n-gram gets a number (its id in ``gram_ids``), and equal image lists, video lists and
    box labels are one object, however many samples have them.
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.gram_ids: dict[str, int] = {}
        self._shared: dict[object, object] = {}

    def _share(self, value: Hashable) -> Hashable:
        return self._shared.setdefault(value, value)

    def grams(self, sample: Sample) -> array:
        """The ids of the sample's annotation text's n-grams, ascending; empty unless annotations are compared (``level: sample``)."""
        if not (self.config.enabled and self.config.level == "sample"):
            return array("I")
        ids = self.gram_ids
        grams = {ids.setdefault(gram, len(ids)) for gram in shingles(annotation_text(sample), self.config.text_shingle_size)}
        return array("I", sorted(grams))

    def summary(self, sample: Sample) -> SampleSummary:
        """``sample`` summarised; its boxes only when annotations are compared (dedup on, ``level: sample``)."""
        labels: tuple[str, ...] = ()
        values = array("d")
        if self.config.enabled and self.config.level == "sample":
            boxes = relative_boxes(sample)
            labels = tuple(self._share(box.label) for box in boxes)
            values = array("d", [value for box in boxes for value in (box.x1, box.y1, box.x2, box.y2, box.image_index)])
        return SampleSummary(
            sample_id=sample.sample_id,
            gold=sample.gold,
            item_id=sample.item_id,
            images=self._share(sample.images),
            video_shas=self._share(tuple(video.sha256 for video in sample.videos)),
            exact=bytes.fromhex(exact_key(sample)) if self.config.enabled else b"",
            box_labels=self._share(labels),
            box_values=values,
        )


class _MediaIndex:
    """Which stored images are near-duplicates of each other, and how far apart."""

    def __init__(self, links: Iterable[ImageLink]) -> None:
        self.distance: dict[tuple[str, str], int] = {}
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for link in links:
            self.distance[(link.first, link.second)] = self.distance[(link.second, link.first)] = link.distance
            self.neighbours[link.first].add(link.second)
            self.neighbours[link.second].add(link.first)

    def media_distance(self, first: SampleSummary, second: SampleSummary) -> int | None:
        """The largest pHash distance between images at the same position; None when the media differ."""
        if len(first.images) != len(second.images) or first.video_shas != second.video_shas:
            return None
        largest = 0
        for image_a, image_b in zip(first.images, second.images, strict=True):
            if image_a.sha256 == image_b.sha256:
                continue
            distance = self.distance.get((image_a.sha256, image_b.sha256))
            if distance is None:
                return None
            largest = max(largest, distance)
        return largest

    def candidate_pairs(self, samples: Sequence[SampleSummary]) -> set[tuple[str, str]]:
        """Pairs of ``samples`` (ids in order) whose first images are near-duplicates, or that have the same videos and no image."""
        by_key: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for sample in samples:
            by_key[self._key(sample)].append(sample.sample_id)
        pairs: set[tuple[str, str]] = set()
        for sample in samples:
            keys = [self._key(sample)]
            if sample.images:
                keys += [("image", sha) for sha in self.neighbours[sample.images[0].sha256]]
            for key in keys:
                pairs.update((sample.sample_id, other) for other in by_key.get(key, []) if other > sample.sample_id)
        return pairs

    @staticmethod
    def _key(sample: SampleSummary) -> tuple[str, ...]:
        if not sample.images:
            return ("videos", *sample.video_shas)
        return ("image", sample.images[0].sha256)


def id_counts(values: np.ndarray) -> np.ndarray:
    """How often each id occurs in ``values``, as ``uint32`` (``np.bincount`` would use 8 bytes per id)."""
    counts = np.zeros(int(values.max()) + 1 if values.size else 0, dtype=np.uint32)
    np.add.at(counts, values, 1)
    return counts


class GramTable:
    """The n-gram ids of many samples in one array: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``, distinct ids.

    One ``uint32`` per n-gram and one offset per row, where a Python container per sample would cost
    its own header and a hash table: curate holds the n-grams of every sample of a manifest at once.
    """

    def __init__(self) -> None:
        self.values: np.ndarray | array = array("I")
        self.offsets: np.ndarray | array = array("Q", [0])

    @classmethod
    def from_sets(cls, sets: Iterable[Collection[Hashable]]) -> GramTable:
        """A table of ``sets``; any tokens are numbered in their sorted order."""
        listed = list(sets)
        numbers = {token: number for number, token in enumerate(sorted({token for tokens in listed for token in tokens}))}
        table = cls()
        for tokens in listed:
            table.append(numbers[token] for token in tokens)
        return table

    def append(self, ids: Iterable[int]) -> None:
        """Adds a row of distinct ids."""
        self.values.extend(ids)
        self.offsets.append(len(self.values))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """``values`` (uint32) and ``offsets`` (uint64) as numpy arrays, without copying."""
        return np.asarray(self.values, dtype=np.uint32), np.asarray(self.offsets, dtype=np.uint64)

    def sizes(self) -> np.ndarray:
        """The number of ids in each row."""
        return np.diff(self.columns()[1]).astype(np.int64)

    def common(self, share: float, min_samples: int) -> np.ndarray:
        """The ids that more than ``share`` of the rows, and more than ``min_samples`` of them, contain (see ``boilerplate``)."""
        return np.flatnonzero(id_counts(self.columns()[0]) > max(share * len(self), min_samples))

    def drop_common(self, common: np.ndarray) -> None:
        """Leaves ``common`` ids out of every row that has others; a row of nothing but common ids stays whole.

        The rows are compacted in place, a block at a time: no second copy of the ids is made.
        """
        values, offsets = self.columns()
        if not common.size or not values.size:
            return
        is_common = np.zeros(int(values.max()) + 1, dtype=bool)
        is_common[common[common < is_common.size]] = True
        keep = ~is_common[values]
        del is_common
        sizes = np.diff(offsets).astype(np.int64)
        own = np.zeros(len(self), dtype=np.int64)
        for first in range(0, len(self), COMPACT_ROWS):
            # Rows with ids only (reduceat would give an empty row the next row's first flag), a block at a time
            # (reduceat casts the flags it sums to int64).
            filled = first + np.flatnonzero(sizes[first : first + COMPACT_ROWS])
            if filled.size:
                base, end = int(offsets[filled[0]]), int(offsets[filled[-1] + 1])
                own[filled] = np.add.reduceat(keep[base:end], offsets[filled].astype(np.int64) - base, dtype=np.int64)
        for row in np.flatnonzero((own == 0) & (sizes > 0)).tolist():  # all boilerplate: compared whole
            keep[int(offsets[row]) : int(offsets[row + 1])] = True
        written = 0
        for start in range(0, values.size, COMPACT_BLOCK):
            block = values[start : start + COMPACT_BLOCK][keep[start : start + COMPACT_BLOCK]]
            values[written : written + block.size] = block
            written += block.size
        kept_per_row = np.where(own == 0, sizes, own).astype(np.uint64)
        self.values = values[:written]
        self.offsets = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(kept_per_row, dtype=np.uint64)])


def similar_sets(sets: Sequence[Collection[Token]] | GramTable, min_jaccard: float) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j, jaccard)``, ``i < j``, of non-empty sets with Jaccard >= ``min_jaccard``.

    Exact, by prefix filtering (Bayardo et al., "Scaling up all pairs similarity search",
    WWW 2007): with tokens sorted rarest first, two sets with Jaccard >= t share a token
    among the first ``n - ceil(t * n) + 1`` of each. Sets are visited from small to large;
    each is compared with the sets visited before it that have one of its prefix tokens in their
    own prefix and pass the size filter ``|smaller| >= t * |larger|``.

    Memory stays a few bytes per n-gram: the sets are a ``GramTable`` (other sets are numbered
    into one first), the prefixes are indexed in one sorted ``uint64`` array rather than a list
    per token, and the token counts are ``uint32``.
    """
    table = sets if isinstance(sets, GramTable) else GramTable.from_sets(sets)
    values, offsets = table.columns()
    count = len(table)
    if not values.size:
        return []
    starts, sizes = offsets[:-1].astype(np.int64), table.sizes()
    frequency = id_counts(values)
    prefixes = np.where(sizes > 0, np.minimum(sizes, sizes - np.ceil(min_jaccard * sizes - 1e-9).astype(np.int64) + 1), 0)
    visit = np.lexsort((np.arange(count), sizes)).astype(np.uint32)
    visit_rank = np.empty(count, dtype=np.uint64)
    visit_rank[visit] = np.arange(count, dtype=np.uint64)

    def prefix(row: int) -> np.ndarray:
        """The row's first ``prefixes[row]`` tokens, rarest first (ties by id)."""
        tokens = values[starts[row] : starts[row] + sizes[row]]
        return tokens[np.lexsort((tokens, frequency[tokens]))[: prefixes[row]]]

    # The index: one uint64 per prefix token, ``token << 32 | visit rank``, sorted: a token's entries are
    # one run, in visiting order, so the earlier visited sets with a token are one searchsorted away.
    index = np.empty(int(prefixes.sum()), dtype=np.uint64)
    written = 0
    for row, length in enumerate(prefixes.tolist()):
        index[written : written + length] = (prefix(row).astype(np.uint64) << np.uint64(32)) | visit_rank[row]
        written += length
    index.sort()
    marked = np.zeros(int(values.max()) + 1, dtype=bool)
    pairs: list[tuple[int, int, float]] = []
    for current in visit.tolist():
        size = int(sizes[current])
        if size == 0:
            continue
        found = []
        for token in prefix(current).astype(np.uint64).tolist():
            first = np.searchsorted(index, np.uint64(token << 32))
            earlier = np.searchsorted(index, np.uint64(token << 32) | visit_rank[current])
            found.append(visit[(index[first:earlier] & np.uint64(0xFFFFFFFF)).astype(np.int64)])
        candidates = np.unique(np.concatenate(found))
        candidates = candidates[sizes[candidates] >= min_jaccard * size - 1e-9]
        if not candidates.size:
            continue
        tokens = values[starts[current] : starts[current] + size]
        marked[tokens] = True
        lengths = sizes[candidates]
        gathered = np.repeat(starts[candidates] - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        shared_counts = np.add.reduceat(marked[values[gathered]], np.cumsum(lengths) - lengths, dtype=np.int64)
        marked[tokens] = False
        for other, other_size, shared in zip(candidates.tolist(), lengths.tolist(), shared_counts.tolist(), strict=True):
            similarity = shared / (size + other_size - shared)
            if similarity >= min_jaccard:
                pairs.append((min(current, other), max(current, other), similarity))
    return sorted(pairs)


def similar_texts(
    texts: Mapping[str, Collection[Token]], common: frozenset[Token], min_jaccard: float
) -> dict[tuple[str, str], float]:
    """Pairs of sample ids whose ``text_similarity`` reaches ``min_jaccard``; samples without text are left out.

    Texts with n-grams of their own are compared on those, texts that are all boilerplate on
    their whole sets (a text of one kind is never similar to one of the other: Jaccard 0).
    """
    ids = list(texts)
    table = GramTable.from_sets([without(texts[sample_id], common) or texts[sample_id] for sample_id in ids])
    return similar_rows(ids, table, min_jaccard)


def similar_rows(ids: Sequence[str], table: GramTable, min_jaccard: float) -> dict[tuple[str, str], float]:
    """Pairs of ``ids`` whose rows of ``table`` (own n-grams, or all boilerplate) have Jaccard >= ``min_jaccard``.

    One pass serves both kinds of text: a row of its own n-grams shares no id with a row of
    nothing but boilerplate, so rows of different kinds are never candidates.
    """
    found: dict[tuple[str, str], float] = {}
    for i, j, similarity in similar_sets(table, min_jaccard):
        first, second = sorted((ids[i], ids[j]))
        found[(first, second)] = similarity
    return found


def duplicate_pairs(
    samples: Sequence[SampleSummary],
    texts: GramTable,
    image_links: Sequence[ImageLink],
    config: DedupConfig,
) -> dict[tuple[str, str], tuple[str, str]]:
    """Every pair of duplicate samples (see the module docstring), keyed by their ids in ``sample_id`` order.

    Candidates come from the texts (``similar_texts``), and from the media for samples
    without annotation text and for ``level: image``; each is then checked in full.

    Args:
        samples: the samples' summaries.
        texts: each sample's n-gram ids (``SampleSummarizer.grams``), one row per sample in ``samples``' order.
            Each row is replaced by its n-grams that are not boilerplate, when it has any, before texts are
            compared: the texts of a large manifest are then held once, not once whole and once without boilerplate.
        image_links: the near-duplicate image pairs among their images.
        config: thresholds and the level.

    Returns:
        ``{(id_a, id_b): (reason, measured)}`` with ``id_a < id_b``.
    """
    media = _MediaIndex(image_links)
    by_id = {sample.sample_id: sample for sample in samples}
    if config.level == "image":
        similarity: dict[tuple[str, str], float] = {}
        candidates = media.candidate_pairs(samples)
    else:
        texts.drop_common(texts.common(config.boilerplate_share, config.boilerplate_min_samples))
        similarity = similar_rows([sample.sample_id for sample in samples], texts, config.text_min_jaccard)
        without_text = texts.sizes() == 0
        candidates = set(similarity) | media.candidate_pairs([sample for sample, empty in zip(samples, without_text) if empty])
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for pair in sorted(candidates):
        first, second = by_id[pair[0]], by_id[pair[1]]
        distance = media.media_distance(first, second)
        if distance is None:
            continue
        if first.exact == second.exact:
            found[pair] = ("exact_duplicate", "same files, normalised text and annotations")
            continue
        shown = f"pHash distance {distance}" if first.images else "same videos"
        if config.level == "image":
            found[pair] = ("same_media", shown)
            continue
        boxes = box_agreement(first.boxes(), second.boxes())
        if boxes >= config.box_min_iou:
            found[pair] = ("near_duplicate", f"{shown}, text Jaccard {similarity.get(pair, 1.0):.3f}, box agreement {boxes:.3f}")
    return found


def keep_order(samples: Sequence[SampleSummary], pairs: Iterable[tuple[str, str]]) -> list[SampleSummary]:
    """Gold first, then samples with fewer duplicates, then by ``sample_id``."""
    degree = Counter(sample_id for pair in pairs for sample_id in pair)
    return sorted(samples, key=lambda sample: (not sample.gold, degree[sample.sample_id], sample.sample_id))


@dataclass(frozen=True)
class DuplicateChoice:
    """Which samples dedup keeps and which it drops, by id.

    Attributes:
        order: sample ids in the order they were visited.
        kept: ids of the samples kept, in that order.
        pairs: one ``DuplicatePair`` per dropped sample, in that order.
    """

    order: tuple[str, ...]
    kept: tuple[str, ...]
    pairs: tuple[DuplicatePair, ...]


def choose_duplicates(
    samples: Sequence[SampleSummary],
    texts: GramTable,
    image_links: Sequence[ImageLink],
    config: DedupConfig,
) -> DuplicateChoice:
    """Which summarised samples to keep and which to drop as duplicates of kept ones (see the module docstring).

    Args:
        samples: the samples' summaries (``SampleSummarizer`` with the same ``config``), ids distinct.
        texts: their n-gram ids (``SampleSummarizer.grams``), a row per sample in order; ``duplicate_pairs`` rewrites them.
        image_links: the near-duplicate image pairs among their images (``image_links``).
        config: thresholds, the level and whether duplicates are dropped at all.

    Returns:
        The ``DuplicateChoice``; with ``config.enabled`` false nothing is dropped.
    """
    found = duplicate_pairs(samples, texts, image_links, config) if config.enabled else {}
    ordered = keep_order(samples, found)
    partners: dict[str, list[str]] = defaultdict(list)
    for first, second in found:
        partners[first].append(second)
        partners[second].append(first)
    rank = {sample.sample_id: position for position, sample in enumerate(ordered)}
    kept: list[str] = []
    kept_set: set[str] = set()
    pairs: list[DuplicatePair] = []
    for sample in ordered:
        keepers = sorted((other for other in partners[sample.sample_id] if other in kept_set), key=rank.__getitem__)
        if not keepers:
            kept.append(sample.sample_id)
            kept_set.add(sample.sample_id)
            continue
        keeper = keepers[0]
        reason, measured = found[min(sample.sample_id, keeper), max(sample.sample_id, keeper)]
        pairs.append(DuplicatePair(dropped=sample.sample_id, kept=keeper, reason=reason, measured=measured))
    return DuplicateChoice(order=tuple(sample.sample_id for sample in ordered), kept=tuple(kept), pairs=tuple(pairs))


def duplicate_drop(sample: Sample, pair: DuplicatePair, level: str) -> Drop:
    """The ``Drop`` of ``sample``, dropped as ``pair.dropped``: it names the kept sample and what was measured."""
    field = "images+annotations" if level == "sample" else "images"
    return make_drop(sample, "dedup", pair.reason, field, pair.kept, f"duplicates kept sample {pair.kept}: {pair.measured}")


def find_duplicates(
    samples: Sequence[Sample],
    store: ImageStore,
    config: DedupConfig,
    hash_cache: MutableMapping[str, int] | None = None,
) -> DedupResult:
    """Which samples to keep and which to drop as duplicates of kept ones (see the module docstring).

    Args:
        samples: the samples; their images must be in ``store``.
        store: the content-addressed image store.
        config: thresholds, the level and whether duplicates are dropped at all.
        hash_cache: sha256 -> pHash, reused across calls and filled in.

    Returns:
        The ``DedupResult``; with ``config.enabled`` false nothing is dropped.

    Raises:
        ValueError: naming a sample id that occurs twice.
        FileNotFoundError: naming a sample whose image is not in the store.
    """
    check_unique_ids(samples)
    links = near_image_links(samples, store, config.image_max_distance, hash_cache)
    summarizer = SampleSummarizer(config)
    texts = GramTable()
    for sample in samples:
        texts.append(summarizer.grams(sample))
    choice = choose_duplicates([summarizer.summary(sample) for sample in samples], texts, links, config)
    by_id = {sample.sample_id: sample for sample in samples}
    return DedupResult(
        order=choice.order,
        kept=choice.kept,
        drops=tuple(duplicate_drop(by_id[pair.dropped], pair, config.level) for pair in choice.pairs),
        pairs=choice.pairs,
        image_links=tuple(links),
    )
