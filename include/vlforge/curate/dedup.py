"""Duplicate detection: exact duplicates, near-duplicate images (pHash), near-duplicate texts (5-gram Jaccard).

Three relations link pairs of samples:

* ``exact``: the same image and video files (sha256, in order), the same normalised
  conversation (``vlforge.curate.text.normalize_text``: casefolded, punctuation
  deleted, whitespace collapsed, media tags removed, per role) and the same
  structured annotations (boxes, OCR lines, actions, video events, choices), so
  that two boxes-only samples of one image with different boxes are not exact duplicates.
* ``image``: some image of one sample and some image of the other have 64-bit
  perceptual hashes (``imagehash.phash`` of the stored file: 32x32 greyscale, DCT,
  the 8x8 low frequencies against their median) that differ in at most
  ``image_max_distance`` bits. Re-encoding and resizing change few bits; different
  photos differ in about half of them. A shared sha256 is distance 0, so rounds of
  one item are near-duplicates and the gold round is kept.
* ``text``: the normalised conversations' sets of character ``k``-grams
  (``text_shingle_size``, 5 by default) have Jaccard ``|A & B| / |A | B|`` of at
  least ``text_min_jaccard``. Conversations shorter than ``text_min_chars`` are left
  out, so that short templated prompts and answers do not chain unrelated samples.
  Candidate pairs come from prefix filtering (Bayardo et al., "Scaling up all pairs
  similarity search", WWW 2007): with shingles sorted rarest first, two sets with
  Jaccard >= t share a token among the first ``n - ceil(t * n) + 1`` of each, so the
  search is exact (no missed pair) and every candidate is verified.

Links are joined into groups by union-find. Samples are ordered gold first, then by
``sample_id``; the first of each group (over the relations named in ``drop``) is kept
and every other member is dropped with a reason naming the link that joined it. The
groups over all relations are what the splits keep together.

Pure functions apart from reading stored images.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlforge.curate.config import DedupConfig, DedupRelation
from vlforge.curate.result import Drop, make_drop
from vlforge.curate.text import normalized_conversation, normalized_turns
from vlforge.curate.union_find import UnionFind
from vlforge.records import Sample
from vlforge.store import ImageStore

_REASONS: dict[str, str] = {
    "exact": "exact_duplicate",
    "image": "near_duplicate_image",
    "text": "near_duplicate_text",
}
_FIELDS: dict[str, str] = {"exact": "images+conversations", "image": "images", "text": "conversations"}
_NAMES: dict[str, str] = {"exact": "exact duplicate", "image": "near-duplicate image", "text": "near-duplicate text"}


@dataclass(frozen=True)
class Link:
    """Two samples joined by one relation; ``first`` comes before ``second`` in keep order.

    Attributes:
        first: sample id.
        second: sample id.
        relation: ``exact``, ``image`` or ``text``.
        value: the measured value, e.g. ``pHash distance 2`` or ``Jaccard 0.850``.
        detail: what was compared, for the drop reason.
    """

    first: str
    second: str
    relation: DedupRelation
    value: str
    detail: str


@dataclass(frozen=True)
class DedupResult:
    """Links, groups and the keep/drop decision.

    Attributes:
        order: sample ids in keep order (gold first, then sample_id).
        links: every link found, sorted.
        groups: groups of two or more samples over all relations, members in keep order.
        kept: ids of the samples kept, in keep order.
        drops: one ``Drop`` per sample dropped as a duplicate.
    """

    order: tuple[str, ...]
    links: tuple[Link, ...]
    groups: tuple[tuple[str, ...], ...]
    kept: tuple[str, ...]
    drops: tuple[Drop, ...]


def keep_order(samples: Iterable[Sample]) -> list[Sample]:
    """Samples in the order duplicates are kept by: gold rounds first, then by ``sample_id``.

    Raises:
        ValueError: naming a sample id that occurs twice.
    """
    ordered = sorted(samples, key=lambda sample: (not sample.gold, sample.sample_id))
    seen: dict[str, Sample] = {}
    for sample in ordered:
        earlier = seen.setdefault(sample.sample_id, sample)
        if earlier is not sample:
            raise ValueError(
                f"sample_id {sample.sample_id!r} occurs twice ({earlier.source.file} record "
                f"{earlier.source.record_id}, {sample.source.file} record {sample.source.record_id})"
            )
    return ordered


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


def image_hashes(
    samples: Sequence[Sample], store: ImageStore, cache: MutableMapping[str, int] | None = None
) -> dict[str, int]:
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


def shingles(text: str, size: int) -> frozenset[str]:
    """Character ``size``-grams of ``text``; a text shorter than ``size`` is its own single shingle."""
    if len(text) <= size:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[index : index + size] for index in range(len(text) - size + 1))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first and not second:
        return 1.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


def similar_sets(sets: Sequence[frozenset[str]], min_jaccard: float) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j, jaccard)``, ``i < j``, of sets with Jaccard >= ``min_jaccard`` (exact, by prefix filtering).

    Sets are visited from small to large; each indexes the ``n - ceil(t * n) + 1``
    rarest of its tokens, and a candidate must also pass the size filter
    ``|smaller| >= t * |larger|`` before its Jaccard is computed.
    """
    frequency = Counter(token for tokens in sets for token in tokens)
    index: dict[str, list[int]] = defaultdict(list)
    pairs: list[tuple[int, int, float]] = []
    for current in sorted(range(len(sets)), key=lambda position: (len(sets[position]), position)):
        tokens = sorted(sets[current], key=lambda token: (frequency[token], token))
        size = len(tokens)
        if size == 0:
            continue
        prefix = size - math.ceil(min_jaccard * size - 1e-9) + 1
        candidates: set[int] = set()
        for token in tokens[:prefix]:
            candidates.update(other for other in index[token] if len(sets[other]) >= min_jaccard * size - 1e-9)
            index[token].append(current)
        for other in sorted(candidates):
            similarity = jaccard(sets[current], sets[other])
            if similarity >= min_jaccard:
                pairs.append((min(current, other), max(current, other), similarity))
    return sorted(pairs)


def _star(members_by_key: dict[str, list[str]]) -> Iterable[tuple[str, str, str]]:
    """Link every member to the first with the same key: ``(first, member, key)``."""
    for key, members in members_by_key.items():
        for member in members[1:]:
            yield members[0], member, key


def duplicate_links(
    samples: Sequence[Sample],
    store: ImageStore,
    config: DedupConfig,
    hash_cache: MutableMapping[str, int] | None = None,
) -> list[Link]:
    """Every exact, image and text link among ``samples`` (relations switched off in ``config`` are skipped).

    Samples sharing a key (exact key, sha256, normalised text) are linked to the first of them
    in keep order, and near keys are linked through those first samples: the groups are the
    same as with every pair linked, with far fewer links.
    """
    ordered = keep_order(samples)
    links: list[Link] = []

    by_exact: dict[str, list[str]] = defaultdict(list)
    for sample in ordered:
        by_exact[exact_key(sample)].append(sample.sample_id)
    for first, second, key in _star(by_exact):
        links.append(Link(first, second, "exact", f"key {key[:12]}", "same images, normalised text and annotations"))

    if config.image_max_distance is not None:
        links += _image_links(ordered, store, config.image_max_distance, hash_cache)
    if config.text_min_jaccard is not None:
        links += _text_links(ordered, config)
    return sorted(links, key=lambda link: (link.relation, link.first, link.second))


def _image_links(
    ordered: list[Sample], store: ImageStore, max_distance: int, cache: MutableMapping[str, int] | None
) -> list[Link]:
    hashes = image_hashes(ordered, store, cache)
    rank = {sample.sample_id: position for position, sample in enumerate(ordered)}
    by_sha: dict[str, list[str]] = defaultdict(list)
    for sample in ordered:
        for sha in dict.fromkeys(image.sha256 for image in sample.images):
            by_sha[sha].append(sample.sample_id)
    links = [
        Link(first, second, "image", "pHash distance 0", f"same image {sha[:12]} (pHash distance 0 <= {max_distance})")
        for first, second, sha in _star(by_sha)
        if first != second
    ]
    shas = list(by_sha)
    for i, j, distance in hamming_pairs([hashes[sha] for sha in shas], max_distance):
        first, second = by_sha[shas[i]][0], by_sha[shas[j]][0]
        if first == second:
            continue
        detail = f"images {shas[i][:12]} and {shas[j][:12]} have pHash distance {distance} <= {max_distance}"
        links.append(Link(*_in_order(first, second, rank), "image", f"pHash distance {distance}", detail))
    return links


def _text_links(ordered: list[Sample], config: DedupConfig) -> list[Link]:
    threshold = config.text_min_jaccard
    assert threshold is not None
    rank = {sample.sample_id: position for position, sample in enumerate(ordered)}
    by_text: dict[str, list[str]] = defaultdict(list)
    for sample in ordered:
        text = normalized_conversation(sample)
        if len(text) >= config.text_min_chars and text:
            by_text[text].append(sample.sample_id)
    links = [
        Link(first, second, "text", "Jaccard 1.000", "same normalised conversation (Jaccard 1.000)")
        for first, second, _ in _star(by_text)
    ]
    texts = list(by_text)
    sets = [shingles(text, config.text_shingle_size) for text in texts]
    for i, j, similarity in similar_sets(sets, threshold):
        first, second = by_text[texts[i]][0], by_text[texts[j]][0]
        detail = f"conversations' {config.text_shingle_size}-gram Jaccard {similarity:.3f} >= {threshold}"
        links.append(Link(*_in_order(first, second, rank), "text", f"Jaccard {similarity:.3f}", detail))
    return links


def _in_order(first: str, second: str, rank: dict[str, int]) -> tuple[str, str]:
    return (first, second) if rank[first] < rank[second] else (second, first)


def duplicate_groups(order: Sequence[str], links: Iterable[Link]) -> list[list[str]]:
    """Groups of two or more sample ids joined by ``links``, members and groups in ``order``."""
    return [group for group in _all_groups(order, links) if len(group) > 1]


def decide(
    samples: Sequence[Sample], links: Sequence[Link], drop: Iterable[DedupRelation]
) -> tuple[list[str], list[Drop]]:
    """Keep the first sample of every group over the ``drop`` relations; drop the others with a reason.

    A dropped sample's reason names its link to the kept sample when it has one, else its
    first link in keep order, so that a chain ``a ~ b ~ c`` says how ``c`` got there.

    Returns:
        The kept ids in keep order and one ``Drop`` per other sample.
    """
    ordered = keep_order(samples)
    order = [sample.sample_id for sample in ordered]
    relations = set(drop)
    active = [link for link in links if link.relation in relations]
    by_sample: dict[str, list[Link]] = defaultdict(list)
    for link in active:
        by_sample[link.first].append(link)
        by_sample[link.second].append(link)
    kept: list[str] = []
    drops: list[Drop] = []
    keeper_of: dict[str, tuple[str, int]] = {}
    for group in _all_groups(order, active):
        for member in group:
            keeper_of[member] = (group[0], len(group))
    rank = {sample_id: position for position, sample_id in enumerate(order)}
    for sample in ordered:
        keeper, size = keeper_of[sample.sample_id]
        if keeper == sample.sample_id:
            kept.append(sample.sample_id)
            continue
        candidates = sorted(
            by_sample[sample.sample_id],
            key=lambda link: (keeper not in (link.first, link.second), rank[_other(link, sample.sample_id)], link.relation),
        )
        link = candidates[0]
        other = _other(link, sample.sample_id)
        detail = (
            f"{_NAMES[link.relation]} in a group of {size} that keeps {keeper}; "
            f"linked to {other}: {link.detail}"
        )
        drops.append(make_drop(sample, "dedup", _REASONS[link.relation], _FIELDS[link.relation], link.value, detail))
    return kept, drops


def _all_groups(order: Sequence[str], links: Iterable[Link]) -> list[list[str]]:
    union = UnionFind(order)
    for link in links:
        union.union(link.first, link.second)
    return union.groups()


def _other(link: Link, sample_id: str) -> str:
    return link.second if link.first == sample_id else link.first


def find_duplicates(
    samples: Sequence[Sample],
    store: ImageStore,
    config: DedupConfig,
    hash_cache: MutableMapping[str, int] | None = None,
) -> DedupResult:
    """Links, groups and keep/drop decisions for ``samples``.

    Args:
        samples: the samples to deduplicate; their images must be in ``store``.
        store: the content-addressed image store.
        config: thresholds and the relations that drop.
        hash_cache: sha256 -> pHash, reused across calls and filled in.

    Returns:
        The ``DedupResult``.
    """
    order = tuple(sample.sample_id for sample in keep_order(samples))
    links = duplicate_links(samples, store, config, hash_cache)
    kept, drops = decide(samples, links, config.drop)
    groups = tuple(tuple(group) for group in duplicate_groups(order, links))
    return DedupResult(order=order, links=tuple(links), groups=groups, kept=tuple(kept), drops=tuple(drops))
