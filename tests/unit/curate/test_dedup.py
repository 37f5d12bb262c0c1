"""Dedup on real photos: a re-encoded, resized copy is found, different photos are not grouped, reasons name the link."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from curate_helpers import SKIMAGE, YOLO_IMAGES, boxes, make_sample, reencoded

import vlforge.curate.dedup as dedup
from vlforge.curate.config import DedupConfig
from vlforge.curate.dedup import (
    find_duplicates,
    hamming_pairs,
    image_hashes,
    jaccard,
    shingles,
    similar_sets,
)
from vlforge.curate.text import normalize_text
from vlforge.records import ImageRef
from vlforge.store import ImageStore

Put = Callable[[Path | bytes], ImageRef]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<image>\nWhat's  THIS?", "whats this"),
        ("A red, double-decker bus.", "a red doubledecker bus"),
        ("  tabs\tand\nnewlines  ", "tabs and newlines"),
        ("图中有一只猫，在沙发上。", "图中有一只猫在沙发上"),
        ("Straße", "strasse"),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_reencoded_resized_copy_is_a_near_duplicate_and_different_photos_are_not(
    put: Put, store: ImageStore, fixtures_dir: Path
) -> None:
    original = put(YOLO_IMAGES / "img_1.jpg")
    copy = put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg", scale=0.5, quality=60))
    astronaut, cat = put(SKIMAGE / "astronaut.png"), put(SKIMAGE / "chelsea.png")
    assert (copy.width, copy.height, copy.format) == (320, 164, "jpg")
    assert copy.sha256 != original.sha256
    samples = [
        make_sample("a-original", (original,), answer="A red bus."),
        make_sample("b-copy", (copy,), answer="A London bus at a station."),
        make_sample("c-astronaut", (astronaut,), answer="An astronaut."),
        make_sample("d-cat", (cat,), answer="A cat."),
    ]

    result = find_duplicates(samples, store, DedupConfig())

    assert result.groups == (("a-original", "b-copy"),)
    assert result.kept == ("a-original", "c-astronaut", "d-cat")
    (drop,) = result.drops
    assert (drop.sample_id, drop.stage, drop.reason, drop.field, drop.value) == (
        "b-copy",
        "dedup",
        "near_duplicate_image",
        "images",
        "pHash distance 0",
    )
    assert drop.message.startswith("sample b-copy (export.json record rec-b-copy): images (pHash distance 0): ")
    assert "near-duplicate image in a group of 2 that keeps a-original" in drop.message
    hashes = image_hashes(samples, store)
    assert bin(hashes[astronaut.sha256] ^ hashes[cat.sha256]).count("1") == 32  # about half of 64 bits, far above 8


def test_yolo_augmented_variants_group_and_the_upside_down_one_does_not(put: Put, store: ImageStore) -> None:
    """The fixture's img_1/3/4/5 are colour variants of one photo; img_2 is it rotated by 180 degrees."""
    refs = {number: put(YOLO_IMAGES / f"img_{number}.jpg") for number in range(1, 6)}
    samples = [make_sample(f"bus-{number}", (ref,), answer=f"variant {number}") for number, ref in refs.items()]
    hashes = image_hashes(samples, store)
    distances = {
        (a, b): bin(hashes[refs[a].sha256] ^ hashes[refs[b].sha256]).count("1")
        for a, b in itertools.combinations([1, 3, 4, 5], 2)
    }
    assert distances == {(1, 3): 2, (1, 4): 8, (1, 5): 2, (3, 4): 8, (3, 5): 4, (4, 5): 8}

    assert find_duplicates(samples, store, DedupConfig()).groups == (("bus-1", "bus-3", "bus-4", "bus-5"),)
    strict = find_duplicates(samples, store, DedupConfig(image_max_distance=4))
    assert strict.groups == (("bus-1", "bus-3", "bus-5"),)
    assert strict.kept == ("bus-1", "bus-2", "bus-4")


def test_hashes_are_computed_once_per_unique_image(put: Put, store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    bus, cat = put(YOLO_IMAGES / "img_1.jpg"), put(SKIMAGE / "chelsea.png")
    samples = [
        make_sample("s1", (bus,)),
        make_sample("s2", (bus, cat), answer="Two pictures."),
        make_sample("s3", (cat,), answer="A cat."),
    ]
    calls: list[Path] = []
    real = dedup.perceptual_hash

    def counting(path: Path) -> int:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(dedup, "perceptual_hash", counting)
    cache: dict[str, int] = {}
    first = find_duplicates(samples, store, DedupConfig(), hash_cache=cache)
    assert sorted(path.name for path in calls) == sorted([f"{bus.sha256}.jpg", f"{cat.sha256}.png"])
    assert set(cache) == {bus.sha256, cat.sha256}
    again = find_duplicates(samples, store, DedupConfig(), hash_cache=cache)
    assert len(calls) == 2
    assert again == first
    assert first.groups == (("s1", "s2", "s3"),)


def test_exact_duplicate_ignores_case_punctuation_and_spacing_and_keeps_gold(put: Put, store: ImageStore) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    samples = [
        make_sample("a1", (bus,), answer="A red bus, parked."),
        make_sample("z9", (bus,), answer="a RED   bus parked", gold=True),
        make_sample("b2", (bus,), answer="A blue bus."),
    ]
    result = find_duplicates(samples, store, DedupConfig(image_max_distance=None, text_min_jaccard=None))
    assert result.order == ("z9", "a1", "b2")
    assert result.kept == ("z9", "b2")
    (drop,) = result.drops
    assert (drop.sample_id, drop.reason, drop.field) == ("a1", "exact_duplicate", "images+conversations")
    assert "exact duplicate in a group of 2 that keeps z9" in drop.message


def test_boxes_only_samples_with_different_boxes_are_not_exact_duplicates(put: Put, store: ImageStore) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    samples = [
        make_sample("r1", (bus,), answer=None, task_type="grounding", boxes=boxes("bus")),
        make_sample("r2", (bus,), answer=None, task_type="grounding", boxes=boxes("bus", "person")),
        make_sample("r3", (bus,), answer=None, task_type="grounding", boxes=boxes("bus", "person")),
    ]
    exact_only = find_duplicates(samples, store, DedupConfig(drop=("exact",)))
    assert exact_only.kept == ("r1", "r2")
    assert [drop.reason for drop in exact_only.drops] == ["exact_duplicate"]
    assert exact_only.groups == (("r1", "r2", "r3"),)  # one shared image: grouped for the splits all the same


def test_video_samples_with_the_same_question_but_different_videos_are_not_exact_duplicates() -> None:
    from vlforge.records import Sample, Source, Turn, VideoRef

    def video_sample(sample_id: str, sha: str) -> Sample:
        video = VideoRef(sha256=sha * 64, width=224, height=224, format="mp4", duration_s=5.0, fps=30.0, frames=150)
        turns = (Turn(role="user", content="<video>What happens?"), Turn(role="assistant", content="A ball rolls."))
        return Sample(sample_id=sample_id, task_type="vqa", videos=(video,), conversations=turns, source=Source(file="v.json", record_id=sample_id))

    assert dedup.exact_key(video_sample("a", "1")) != dedup.exact_key(video_sample("b", "2"))
    assert dedup.exact_key(video_sample("a", "1")) == dedup.exact_key(video_sample("c", "1"))


CAPTION = "A red double-decker bus parked at Heathrow Terminal 5, with the driver visible behind the windscreen."
REWORDED = "A red double decker bus parked at Heathrow Terminal 5 with the driver visible behind the windscreen!!"


def test_near_duplicate_text_on_different_photos(put: Put, store: ImageStore) -> None:
    astronaut, cat, coffee = (put(SKIMAGE / name) for name in ("astronaut.png", "chelsea.png", "coffee.png"))
    samples = [
        make_sample("t1", (astronaut,), answer=CAPTION),
        make_sample("t2", (cat,), answer=REWORDED),
        make_sample("t3", (coffee,), answer="A cup of coffee on a saucer, seen from above, on a wooden table top."),
    ]
    first = shingles(normalize_text("<image>\nDescribe this image. " + CAPTION), 5)
    second = shingles(normalize_text("<image>\nDescribe this image. " + REWORDED), 5)
    expected = jaccard(first, second)
    assert expected == pytest.approx(0.9237, abs=1e-4)

    result = find_duplicates(samples, store, DedupConfig())
    (drop,) = result.drops
    assert (drop.sample_id, drop.reason, drop.field, drop.value) == ("t2", "near_duplicate_text", "conversations", f"Jaccard {expected:.3f}")
    assert result.kept == ("t1", "t3")
    assert find_duplicates(samples, store, DedupConfig(text_min_jaccard=0.95)).drops == ()


def test_short_texts_are_not_compared(put: Put, store: ImageStore) -> None:
    astronaut, cat = put(SKIMAGE / "astronaut.png"), put(SKIMAGE / "chelsea.png")
    samples = [make_sample("q1", (astronaut,), answer="Yes."), make_sample("q2", (cat,), answer="Yes!")]
    assert find_duplicates(samples, store, DedupConfig()).groups == ()
    assert find_duplicates(samples, store, DedupConfig(text_min_chars=0)).groups == (("q1", "q2"),)


def test_prefix_filtered_similar_sets_equal_brute_force() -> None:
    rng = np.random.default_rng(11)
    vocabulary = [f"t{index}" for index in range(40)]
    base = [frozenset(rng.choice(vocabulary, size=int(rng.integers(3, 20)), replace=False)) for _ in range(60)]
    sets = base + [frozenset(sorted(item)[1:]) for item in base[:20]] + [base[30], frozenset()]
    for threshold in (0.5, 0.7, 0.8, 1.0):
        brute = [
            (i, j, jaccard(sets[i], sets[j]))
            for i, j in itertools.combinations(range(len(sets)), 2)
            if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold
        ]
        assert similar_sets(sets, threshold) == brute
        assert brute, f"no pair at {threshold}: the check would be empty"


def test_hamming_pairs_equal_brute_force() -> None:
    rng = np.random.default_rng(5)
    hashes = [int(value) for value in rng.integers(0, 2**63, size=50, dtype=np.int64)]
    hashes += [value ^ (1 << 3) ^ (1 << 40) for value in hashes[:10]] + [hashes[0]]
    brute = [
        (i, j, bin(hashes[i] ^ hashes[j]).count("1"))
        for i, j in itertools.combinations(range(len(hashes)), 2)
        if bin(hashes[i] ^ hashes[j]).count("1") <= 6
    ]
    assert hamming_pairs(hashes, 6) == brute
    assert len(brute) == 10 + 1 + 1  # the planted ones: 10 two-bit flips, the copy of 0, and the copy vs 0's flip
    assert hamming_pairs(hashes[:1], 6) == []


def test_duplicate_sample_ids_are_an_error(put: Put, store: ImageStore) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    with pytest.raises(ValueError, match=r"sample_id 'same' occurs twice \(export.json record rec-same"):
        samples = [make_sample("same", (bus,)), make_sample("other", (bus,)), make_sample("same", (bus,), gold=True)]
        find_duplicates(samples, store, DedupConfig())


def test_missing_image_names_the_sample_field_and_path(store: ImageStore) -> None:
    ghost = ImageRef(sha256="ab" * 32, width=10, height=10, format="png")
    with pytest.raises(FileNotFoundError, match=r"sample g1 \(export.json record rec-g1\): images\[0\].sha256=abab"):
        find_duplicates([make_sample("g1", (ghost,))], store, DedupConfig())
