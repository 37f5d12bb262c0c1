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

Dedup decides on summaries, not samples (``duplicate_pairs``, ``choose_duplicates``): the comparisons
read ids, media, the exact key's digest and relative boxes from ``vlforge.curate.summaries.SampleSummaries``
(columns of about two hundred bytes a sample), and the n-gram ids of all samples lie beside them in one
``GramTable`` (four bytes an n-gram), so the curate stage can summarise a manifest of any size one batch at a
time and keep none of its samples.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from vlforge.curate.config import DedupConfig
from vlforge.curate.result import Drop, DuplicatePair, make_drop
from vlforge.curate.summaries import SampleDetail, SampleSummaries, sample_detail
from vlforge.curate.text import normalize_text, normalized_turns
from vlforge.quality.metrics.iou import iou_agreement
from vlforge.recent import Recent
from vlforge.records import Box, Sample
from vlforge.store import ImageStore

Token = TypeVar("Token", bound=Hashable)

# pHashes kept by sha256 while curate reads a manifest: a picture shared by many samples is hashed once.
RECENT_IMAGES = 4096
# Ids rewritten per step in a GramTable (boilerplate left out, ranks): a small copy at a time, not the whole table.
COMPACT_ROWS = 1 << 10


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


class ImageHashes:
    """The pHash of every stored image of the samples added, in columns: 40 bytes an image, where a dict by sha256 costs 250.

    An image is hashed once while it is among the ``RECENT_IMAGES`` images hashed last (always, with a ``cache``
    the caller keeps), so a picture that many samples share costs nothing more; one that comes back after that
    is hashed and stored again, and ``links`` counts it once.
    """

    def __init__(self, store: ImageStore, cache: MutableMapping[str, int] | None = None) -> None:
        self.store = store
        self.recent: MutableMapping[str, int] = cache if cache is not None else Recent(RECENT_IMAGES)
        self._digests = bytearray()
        self._values = array("Q")

    def add(self, sample: Sample) -> None:
        """Hashes the images of ``sample`` that are not among the recent ones.

        Raises:
            FileNotFoundError: naming the sample, the image field, the sha256 and the path when a file is missing.
        """
        new = dict.fromkeys(image.sha256 for image in sample.images if image.sha256 not in self.recent)
        hashes = image_hashes([sample], self.store, self.recent)
        for sha in new:
            self._digests += bytes.fromhex(sha)
            self._values.append(hashes[sha])

    def links(self, max_distance: int | None) -> list[ImageLink]:
        """Pairs of distinct images at most ``max_distance`` pHash bits apart, by sha256 (none when it is None)."""
        if max_distance is None or not self._values:
            return []
        _, first = np.unique(np.frombuffer(self._digests, dtype="S32"), return_index=True)  # by digest: sha256 order

        def sha(distinct: int) -> str:
            start = 32 * int(first[distinct])
            return bytes(self._digests[start : start + 32]).hex()

        values = np.asarray(self._values, dtype=np.uint64)[first]
        return [ImageLink(sha(i), sha(j), distance) for i, j, distance in hamming_pairs(values, max_distance)]


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


def box_agreement(boxes_a: Sequence[Box], boxes_b: Sequence[Box]) -> float:
    """``iou_agreement`` of two samples' relative boxes; 1.0 when neither has any."""
    if not boxes_a and not boxes_b:
        return 1.0
    return iou_agreement(list(boxes_a), list(boxes_b))


class GramNumbering:
    """Numbers each distinct n-gram of the samples' annotation texts as it first appears: its id in a ``GramTable``."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.gram_ids: dict[str, int] = {}

    def grams(self, sample: Sample) -> array:
        """The ids of the sample's annotation text's n-grams, ascending; empty unless annotations are compared (``level: sample``)."""
        if not (self.config.enabled and self.config.level == "sample"):
            return array("I")
        ids = self.gram_ids
        grams = {ids.setdefault(gram, len(ids)) for gram in shingles(annotation_text(sample), self.config.text_shingle_size)}
        return array("I", sorted(grams))


class _MediaIndex:
    """Which stored images are near-duplicates of each other, and how far apart."""

    def __init__(self, links: Iterable[ImageLink]) -> None:
        self.distance: dict[tuple[str, str], int] = {}
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for link in links:
            self.distance[(link.first, link.second)] = self.distance[(link.second, link.first)] = link.distance
            self.neighbours[link.first].add(link.second)
            self.neighbours[link.second].add(link.first)

    def media_distance(self, summaries: SampleSummaries, first: int, second: int) -> int | None:
        """The largest pHash distance between the two samples' images at the same position; None when the media differ."""
        if summaries.same_files(first, second):
            return 0
        images_a, images_b = summaries.image_shas(first), summaries.image_shas(second)
        if len(images_a) != len(images_b) or summaries.video_shas(first) != summaries.video_shas(second):
            return None
        largest = 0
        for image_a, image_b in zip(images_a, images_b, strict=True):
            if image_a == image_b:
                continue
            distance = self.distance.get((image_a, image_b))
            if distance is None:
                return None
            largest = max(largest, distance)
        return largest

    def candidate_pairs(self, summaries: SampleSummaries, positions: Iterable[int]) -> set[tuple[int, int]]:
        """Pairs of ``positions`` (ascending) whose first images are near-duplicates, or that have the same videos and no image."""
        listed = list(positions)
        by_key: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for position in listed:
            by_key[self._key(summaries, position)].append(position)
        pairs: set[tuple[int, int]] = set()
        for position in listed:
            keys = [self._key(summaries, position)]
            images = summaries.image_shas(position)
            if images:
                keys += [("image", sha) for sha in self.neighbours[images[0]]]
            for key in keys:
                pairs.update((position, other) for other in by_key.get(key, []) if other > position)
        return pairs

    @staticmethod
    def _key(summaries: SampleSummaries, position: int) -> tuple[str, ...]:
        images = summaries.image_shas(position)
        return ("image", images[0]) if images else ("videos", *summaries.video_shas(position))


class GramTable:
    """The n-gram ids of many samples in one column: row ``i`` is ids ``offsets[i]`` to ``offsets[i + 1]``, distinct ids.

    One ``uint32`` per n-gram and one offset per row, where a Python container per sample would cost
    its own header and a hash table: curate holds the n-grams of every sample of a manifest at once.
    """

    def __init__(self) -> None:
        self.ids = array("I")
        self.offsets = array("Q", [0])
        self.largest = -1  # the largest id ever appended

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
        row = array("I", ids)
        if row:
            self.largest = max(self.largest, max(row))
        self.ids.extend(row)
        self.offsets.append(len(self.ids))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def total(self) -> int:
        """How many ids the rows hold together."""
        return self.offsets[-1]

    def read(self, start: int, end: int) -> np.ndarray:
        """Ids ``start`` to ``end`` of the column, as a view (the table takes no more rows while it is viewed)."""
        return np.frombuffer(self.ids, dtype=np.uint32, count=end - start, offset=4 * start)

    def row(self, row: int) -> np.ndarray:
        return self.read(self.offsets[row], self.offsets[row + 1])

    def blocks(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(first_row, end_row, ids)`` for the rows ``COMPACT_ROWS`` at a time, in order."""
        for first in range(0, len(self), COMPACT_ROWS):
            end = min(len(self), first + COMPACT_ROWS)
            yield first, end, self.read(self.offsets[first], self.offsets[end])

    def sizes(self) -> np.ndarray:
        """The number of ids in each row."""
        return np.diff(np.asarray(self.offsets, dtype=np.uint64)).astype(np.int64)

    def id_counts(self) -> np.ndarray:
        """How many rows hold each id, as ``uint32`` (``np.bincount`` of all ids at once would use 8 bytes per id)."""
        counts = np.zeros(self.largest + 1, dtype=np.uint32)
        for _, _, ids in self.blocks():
            found = np.bincount(ids)
            counts[: found.size] += found.astype(np.uint32)
        return counts

    def common(self, share: float, min_samples: int) -> np.ndarray:
        """The ids that more than ``share`` of the rows, and more than ``min_samples`` of them, contain (see ``boilerplate``)."""
        return np.flatnonzero(self.id_counts() > max(share * len(self), min_samples))

    def drop_common(self, common: np.ndarray) -> None:
        """Leaves ``common`` ids out of every row that has others; a row of nothing but common ids stays whole.

        The rows are compacted in place, a block of rows at a time: no second copy of the ids is made, and
        the memory the left-out ids took is given back.
        """
        if not common.size or not self.total:
            return
        is_common = np.zeros(self.largest + 1, dtype=bool)
        is_common[common[common < is_common.size]] = True
        kept_per_row = np.empty(len(self), dtype=np.uint64)
        written = 0
        for first, end, ids in self.blocks():
            sizes = np.diff(np.asarray(self.offsets[first : end + 1], dtype=np.int64))
            starts = np.cumsum(sizes) - sizes
            keep = ~is_common[ids]
            filled = np.flatnonzero(sizes)
            own = np.zeros(end - first, dtype=np.int64)
            if filled.size:  # rows with ids only: reduceat would give an empty row the next row's first flag
                own[filled] = np.add.reduceat(keep, starts[filled], dtype=np.int64)
            for row in np.flatnonzero((own == 0) & (sizes > 0)).tolist():  # all boilerplate: compared whole
                keep[starts[row] : starts[row] + sizes[row]] = True
            kept = ids[keep]
            del ids  # a view: the ids' array shrinks in place only when nothing views it
            self.read(written, written + kept.size)[:] = kept
            written += kept.size
            kept_per_row[first:end] = np.where(own == 0, sizes, own)
        del self.ids[written:]
        self.offsets = array("Q", [0])
        self.offsets.frombytes(np.cumsum(kept_per_row, dtype=np.uint64).tobytes())


def similar_sets(sets: Sequence[Collection[Token]] | GramTable, min_jaccard: float) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j, jaccard)``, ``i < j``, of non-empty sets with Jaccard >= ``min_jaccard``.

    Exact, by prefix filtering (Bayardo et al., "Scaling up all pairs similarity search",
    WWW 2007): with tokens sorted rarest first, two sets with Jaccard >= t share a token
    among the first ``n - ceil(t * n) + 1`` of each. Sets are visited from small to large;
    each is compared with the sets visited before it that have one of its prefix tokens in their
    own prefix and pass the size filter ``|smaller| >= t * |larger|``.

    Memory stays a few bytes per n-gram: the sets are a ``GramTable`` (other sets are numbered
    into one first), the prefixes are indexed in one ``uint32`` array of row numbers (a run per token)
    rather than a list per token, and the sizes and counts are ``uint32``.
    """
    table = sets if isinstance(sets, GramTable) else GramTable.from_sets(sets)
    count = len(table)
    if not table.total:
        return []
    ids, offsets = table.read(0, table.total), np.asarray(table.offsets, dtype=np.uint64)
    sizes = table.sizes()
    frequency = table.id_counts()
    prefixes = np.where(sizes > 0, np.minimum(sizes, sizes - np.ceil(min_jaccard * sizes - 1e-9).astype(np.int64) + 1), 0)
    prefixes = prefixes.astype(np.uint32)
    visit = np.lexsort((np.arange(count), sizes)).astype(np.uint32)
    sizes = sizes.astype(np.uint32)

    def prefix(tokens: np.ndarray, length: int) -> np.ndarray:
        """The first ``length`` of a row's tokens, rarest first (ties by id)."""
        return tokens[np.lexsort((tokens, frequency[tokens]))[:length]]

    # The index: for each token, the rows visited so far that have it in their prefix, in one ``uint32`` array
    # (a run per token, sized by a first pass); each row is looked up, then added, in visiting order.
    in_prefixes = np.zeros(table.largest + 1, dtype=np.int64)
    for row in range(count):
        in_prefixes[prefix(table.row(row), int(prefixes[row]))] += 1
    filled = np.cumsum(in_prefixes) - in_prefixes  # where each token's run starts, then how far it is filled
    run_starts = filled.copy()
    del in_prefixes
    index = np.empty(int(prefixes.sum(dtype=np.uint64)), dtype=np.uint32)
    marked = np.zeros(table.largest + 1, dtype=bool)
    pairs: list[tuple[int, int, float]] = []
    for current in visit.tolist():
        size = int(sizes[current])
        if size == 0:
            continue
        tokens = table.row(current)
        chosen = prefix(tokens, int(prefixes[current]))
        found = [index[run_starts[token] : filled[token]] for token in chosen.tolist()]
        index[filled[chosen]] = current
        filled[chosen] += 1
        candidates = np.unique(np.concatenate(found))
        candidates = candidates[sizes[candidates] >= min_jaccard * size - 1e-9]
        if not candidates.size:
            continue
        marked[tokens] = True
        lengths = sizes[candidates].astype(np.int64)
        starts = offsets[candidates].astype(np.int64)
        ends = np.cumsum(lengths)
        gathered = np.repeat(starts - ends + lengths, lengths) + np.arange(int(ends[-1]))
        shared_counts = np.add.reduceat(marked[ids[gathered]], ends - lengths, dtype=np.int64)
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
    One pass serves both kinds of text: a row of its own n-grams shares no id with a row of
    nothing but boilerplate, so rows of different kinds are never candidates.
    """
    ids = list(texts)
    table = GramTable.from_sets([without(texts[sample_id], common) or texts[sample_id] for sample_id in ids])
    found: dict[tuple[str, str], float] = {}
    for i, j, similarity in similar_sets(table, min_jaccard):
        first, second = sorted((ids[i], ids[j]))
        found[(first, second)] = similarity
    return found


def candidate_pairs(
    summaries: SampleSummaries, texts: GramTable, image_links: Sequence[ImageLink], config: DedupConfig
) -> dict[tuple[int, int], float]:
    """The pairs of positions ``duplicate_pairs`` checks in full, with their text Jaccard (1.0 for pairs found by media).

    Candidates come from the texts (``similar_sets`` of each text's own n-grams, or of all of them when
    it is nothing but boilerplate, as ``similar_texts`` compares them), and from the media for samples
    without annotation text and for ``level: image``.

    Args:
        summaries: the samples' summaries.
        texts: each sample's n-gram ids (``GramNumbering.grams``), one row per position of ``summaries``.
            Each row is replaced by its n-grams that are not boilerplate, when it has any, before texts are
            compared: the texts of a large manifest are then held once, not once whole and once without boilerplate.
        image_links: the near-duplicate image pairs among their images.
        config: thresholds and the level.
    """
    media = _MediaIndex(image_links)
    if config.level == "image":
        return dict.fromkeys(media.candidate_pairs(summaries, range(len(summaries))), 1.0)
    texts.drop_common(texts.common(config.boilerplate_share, config.boilerplate_min_samples))
    similarity = {(i, j): value for i, j, value in similar_sets(texts, config.text_min_jaccard)}
    without_text = np.flatnonzero(texts.sizes() == 0).tolist()
    return {pair: similarity.get(pair, 1.0) for pair in set(similarity) | media.candidate_pairs(summaries, without_text)}


def duplicate_pairs(
    summaries: SampleSummaries,
    candidates: Mapping[tuple[int, int], float],
    details: Mapping[int, SampleDetail],
    image_links: Sequence[ImageLink],
    config: DedupConfig,
) -> dict[tuple[int, int], tuple[str, str]]:
    """The ``candidates`` that are duplicates (see the module docstring), by position, the one with the smaller ``sample_id`` first.

    Args:
        summaries: the samples' summaries.
        candidates: pairs of positions and their text Jaccard (``candidate_pairs``).
        details: the ``SampleDetail`` of every position in ``candidates``.
        image_links: the near-duplicate image pairs among their images.
        config: thresholds and the level.

    Returns:
        ``{(position_a, position_b): (reason, measured)}``.
    """
    media = _MediaIndex(image_links)
    found: dict[tuple[int, int], tuple[str, str]] = {}
    for pair in sorted(candidates):
        first, second = sorted(pair, key=summaries.sample_id)
        distance = media.media_distance(summaries, first, second)
        if distance is None:
            continue
        if details[first].exact == details[second].exact:
            found[(first, second)] = ("exact_duplicate", "same files, normalised text and annotations")
            continue
        shown = f"pHash distance {distance}" if summaries.image_shas(first) else "same videos"
        if config.level == "image":
            found[(first, second)] = ("same_media", shown)
            continue
        boxes = box_agreement(details[first].boxes, details[second].boxes)
        if boxes >= config.box_min_iou:
            measured = f"{shown}, text Jaccard {candidates[pair]:.3f}, box agreement {boxes:.3f}"
            found[(first, second)] = ("near_duplicate", measured)
    return found


def keep_order(samples: Iterable[tuple[str, bool]], pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of ``samples`` (id, gold) in visiting order: gold first, then fewer duplicates in ``pairs``, then by id."""
    degree = Counter(sample_id for pair in pairs for sample_id in pair)
    return [sample_id for _, _, sample_id in sorted((not gold, degree[sample_id], sample_id) for sample_id, gold in samples)]


def pairs_by_id(summaries: SampleSummaries, found: Mapping[tuple[int, int], tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """``duplicate_pairs``' pairs keyed by the samples' ids instead of their positions."""
    return {(summaries.sample_id(first), summaries.sample_id(second)): outcome for (first, second), outcome in found.items()}


def choose_duplicates(summaries: SampleSummaries, found: Mapping[tuple[int, int], tuple[str, str]]) -> tuple[DuplicatePair, ...]:
    """Which samples to drop as duplicates of kept ones (see the module docstring), one ``DuplicatePair`` each, in visiting order.

    Only samples with a duplicate are visited: every other sample is kept whatever the order.

    Args:
        summaries: the samples' summaries, ids distinct.
        found: their duplicate pairs (``duplicate_pairs``).
    """
    by_id = pairs_by_id(summaries, found)
    members = {position for pair in found for position in pair}
    ordered = keep_order(((summaries.sample_id(position), summaries.is_gold(position)) for position in members), by_id)
    partners: dict[str, list[str]] = defaultdict(list)
    for first, second in by_id:
        partners[first].append(second)
        partners[second].append(first)
    rank = {sample_id: position for position, sample_id in enumerate(ordered)}
    kept: set[str] = set()
    pairs: list[DuplicatePair] = []
    for sample_id in ordered:
        keepers = sorted((other for other in partners[sample_id] if other in kept), key=rank.__getitem__)
        if not keepers:
            kept.add(sample_id)
            continue
        keeper = keepers[0]
        reason, measured = by_id[min(sample_id, keeper), max(sample_id, keeper)]
        pairs.append(DuplicatePair(dropped=sample_id, kept=keeper, reason=reason, measured=measured))
    return tuple(pairs)


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
    hashes = ImageHashes(store, hash_cache)
    if config.image_max_distance is not None:
        for sample in samples:
            hashes.add(sample)
    links = hashes.links(config.image_max_distance)
    summaries, numbering, texts = SampleSummaries(), GramNumbering(config), GramTable()
    for sample in samples:
        summaries.add(sample)
        texts.append(numbering.grams(sample))
    found: dict[tuple[int, int], tuple[str, str]] = {}
    if config.enabled:
        candidates = candidate_pairs(summaries, texts, links, config)
        details = {position: sample_detail(samples[position], config) for pair in candidates for position in pair}
        found = duplicate_pairs(summaries, candidates, details, links, config)
    pairs = choose_duplicates(summaries, found)
    order = keep_order(((sample.sample_id, sample.gold) for sample in samples), pairs_by_id(summaries, found))
    dropped = {pair.dropped for pair in pairs}
    by_id = {sample.sample_id: sample for sample in samples}
    return DedupResult(
        order=tuple(order),
        kept=tuple(sample_id for sample_id in order if sample_id not in dropped),
        drops=tuple(duplicate_drop(by_id[pair.dropped], pair, config.level) for pair in pairs),
        pairs=pairs,
        image_links=tuple(links),
    )
