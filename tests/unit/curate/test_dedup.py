"""Dedup on real photos: a copy is dropped only when both its picture and its annotations duplicate a kept sample."""

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
    GramTable,
    ImageHashes,
    annotation_text,
    boilerplate,
    find_duplicates,
    hamming_pairs,
    image_hashes,
    jaccard,
    shingles,
    similar_sets,
    similar_texts,
    text_similarity,
)
from vlforge.curate.summaries import exact_key
from vlforge.curate.text import normalize_text
from vlforge.records import Box, ImageRef
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


def test_reencoded_copy_with_the_same_annotation_is_dropped_and_with_another_is_kept(
    put: Put, store: ImageStore, fixtures_dir: Path
) -> None:
    original = put(YOLO_IMAGES / "img_1.jpg")
    copy = put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg", scale=0.5, quality=60))
    astronaut, cat = put(SKIMAGE / "astronaut.png"), put(SKIMAGE / "chelsea.png")
    assert (copy.width, copy.height, copy.format) == (320, 164, "jpg")
    assert copy.sha256 != original.sha256
    samples = [
        make_sample("a-original", (original,), answer="A red bus at a station."),
        make_sample("b-copy", (copy,), answer="A red bus at a station!"),
        make_sample("c-copy-other-caption", (copy,), answer="A London bus waiting for passengers."),
        make_sample("d-astronaut", (astronaut,), answer="A red bus at a station."),
        make_sample("e-cat", (cat,), answer="A cat."),
    ]

    result = find_duplicates(samples, store, DedupConfig())

    assert result.kept == ("c-copy-other-caption", "d-astronaut", "e-cat", "a-original")  # fewer duplicates first
    (drop,) = result.drops
    assert (drop.sample_id, drop.stage, drop.reason, drop.field, drop.value) == (
        "b-copy",
        "dedup",
        "near_duplicate",
        "images+annotations",
        "a-original",
    )
    assert drop.message == (
        "sample b-copy (export.json record rec-b-copy): images+annotations (a-original): duplicates kept sample "
        "a-original: pHash distance 0, text Jaccard 1.000, box agreement 1.000"
    )
    assert [link.distance for link in result.image_links] == [0]
    hashes = image_hashes(samples, store)
    assert bin(hashes[astronaut.sha256] ^ hashes[cat.sha256]).count("1") == 32  # about half of 64 bits, far above 8

    by_image = find_duplicates(samples, store, DedupConfig(level="image"))
    assert by_image.kept == ("d-astronaut", "e-cat", "a-original")
    assert [(drop.sample_id, drop.reason) for drop in by_image.drops] == [
        ("b-copy", "same_media"),
        ("c-copy-other-caption", "same_media"),
    ]
    assert find_duplicates(samples, store, DedupConfig(enabled=False)).drops == ()


def test_yolo_variants_with_one_caption_keep_one_and_a_chain_keeps_its_ends(put: Put, store: ImageStore) -> None:
    """The fixture's img_1/3/4/5 are colour variants of one photo; img_2 is it rotated by 180 degrees."""
    refs = {number: put(YOLO_IMAGES / f"img_{number}.jpg") for number in range(1, 6)}
    samples = [make_sample(f"bus-{number}", (ref,), answer="A red bus.") for number, ref in refs.items()]
    hashes = image_hashes(samples, store)
    distances = {
        (a, b): bin(hashes[refs[a].sha256] ^ hashes[refs[b].sha256]).count("1")
        for a, b in itertools.combinations([1, 3, 4, 5], 2)
    }
    assert distances == {(1, 3): 2, (1, 4): 8, (1, 5): 2, (3, 4): 8, (3, 5): 4, (4, 5): 8}

    everything = find_duplicates(samples, store, DedupConfig())
    assert everything.kept == ("bus-2", "bus-1")
    assert {(pair.dropped, pair.kept) for pair in everything.pairs} == {
        ("bus-3", "bus-1"),
        ("bus-4", "bus-1"),
        ("bus-5", "bus-1"),
    }
    # At 2 bits 3 ~ 1 ~ 5 is a chain whose ends are 4 bits apart and 4 is nobody's duplicate: the ends have
    # one duplicate each, are visited first and kept, and 1 goes as a duplicate of 3 (union-find kept only 1).
    chain = find_duplicates(samples, store, DedupConfig(image_max_distance=2))
    assert chain.kept == ("bus-2", "bus-4", "bus-3", "bus-5")
    assert [(pair.dropped, pair.kept) for pair in chain.pairs] == [("bus-1", "bus-3")]


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
    assert first.drops == ()  # different pictures or a different number of them


def test_an_image_back_after_the_recent_ones_moved_on_is_hashed_again_and_linked_once(
    put: Put, store: ImageStore, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus, copy = put(YOLO_IMAGES / "img_1.jpg"), put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg", quality=60))
    cat = put(SKIMAGE / "chelsea.png")
    samples = [make_sample(f"s{index}", (image,)) for index, image in enumerate([bus, cat, bus, copy, cat, bus])]
    remembered = ImageHashes(store)
    for sample in samples:
        remembered.add(sample)
    monkeypatch.setattr(dedup, "RECENT_IMAGES", 1)
    forgetful = ImageHashes(store)
    for sample in samples:
        forgetful.add(sample)
    assert len(forgetful.recent) == 1 and len(remembered.recent) == 3
    links = remembered.links(8)
    assert [{link.first, link.second} for link in links] == [{bus.sha256, copy.sha256}]
    assert forgetful.links(8) == links  # the bus, hashed three times, is one image


def test_exact_duplicate_ignores_case_punctuation_and_spacing_and_keeps_gold(put: Put, store: ImageStore) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    samples = [
        make_sample("a1", (bus,), answer="A red bus, parked."),
        make_sample("z9", (bus,), answer="a RED   bus parked", gold=True),
        make_sample("b2", (bus,), answer="A blue bus."),
    ]
    result = find_duplicates(samples, store, DedupConfig(image_max_distance=None))
    assert result.order == ("z9", "b2", "a1")
    assert result.kept == ("z9", "b2")
    (drop,) = result.drops
    assert (drop.sample_id, drop.reason, drop.field, drop.value) == ("a1", "exact_duplicate", "images+annotations", "z9")
    assert drop.message.endswith("duplicates kept sample z9: same files, normalised text and annotations")


def test_boxes_only_samples_with_different_boxes_are_not_exact_duplicates(put: Put, store: ImageStore) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    samples = [
        make_sample("r1", (bus,), answer=None, task_type="grounding", boxes=boxes("bus")),
        make_sample("r2", (bus,), answer=None, task_type="grounding", boxes=boxes("bus", "person")),
        make_sample("r3", (bus,), answer=None, task_type="grounding", boxes=boxes("bus", "person")),
    ]
    result = find_duplicates(samples, store, DedupConfig())
    assert result.kept == ("r1", "r2")
    assert [(drop.sample_id, drop.reason) for drop in result.drops] == [("r3", "exact_duplicate")]


def test_video_samples_with_the_same_question_but_different_videos_are_not_exact_duplicates() -> None:
    from vlforge.records import Sample, Source, Turn, VideoRef

    def video_sample(sample_id: str, sha: str) -> Sample:
        video = VideoRef(sha256=sha * 64, width=224, height=224, format="mp4", duration_s=5.0, fps=30.0, frames=150)
        turns = (Turn(role="user", content="<video>What happens?"), Turn(role="assistant", content="A ball rolls."))
        return Sample(
            sample_id=sample_id,
            task_type="vqa",
            videos=(video,),
            conversations=turns,
            source=Source(file="v.json", record_id=sample_id),
        )

    assert exact_key(video_sample("a", "1")) != exact_key(video_sample("b", "2"))
    assert exact_key(video_sample("a", "1")) == exact_key(video_sample("c", "1"))


CAPTION = "A red double-decker bus parked at Heathrow Terminal 5, with the driver visible behind the windscreen."
REWORDED = "A red double decker bus parked at Heathrow Terminal 5 with the driver visible behind the windscreen!!"


def test_boxes_are_compared_relative_to_their_image(put: Put, store: ImageStore, fixtures_dir: Path) -> None:
    bus = put(YOLO_IMAGES / "img_1.jpg")
    half = put(reencoded(fixtures_dir / YOLO_IMAGES / "img_1.jpg", scale=0.5, quality=90))
    full = Box(x1=100, y1=50, x2=300, y2=250, label="bus")
    halved = Box(x1=50, y1=25, x2=150, y2=125, label="bus")
    moved = Box(x1=80, y1=25, x2=180, y2=125, label="bus")  # IoU 70/130 with the halved box
    samples = [
        make_sample("g1", (bus,), answer=None, task_type="grounding", boxes=(full,)),
        make_sample("g2", (half,), answer=None, task_type="grounding", boxes=(halved,)),
        make_sample("g3", (half,), answer=None, task_type="grounding", boxes=(moved,)),
    ]
    result = find_duplicates(samples, store, DedupConfig())
    assert [(pair.dropped, pair.kept, pair.measured) for pair in result.pairs] == [
        ("g2", "g1", "pHash distance 0, text Jaccard 1.000, box agreement 0.995")  # 329 px high, halved to 164
    ]
    assert result.kept == ("g3", "g1")
    assert find_duplicates(samples, store, DedupConfig(box_min_iou=0.5)).kept == ("g1",)


def test_the_same_words_on_different_photos_are_kept(put: Put, store: ImageStore) -> None:
    astronaut, cat, coffee = (put(SKIMAGE / name) for name in ("astronaut.png", "chelsea.png", "coffee.png"))
    samples = [
        make_sample("t1", (astronaut,), answer=CAPTION),
        make_sample("t2", (cat,), answer=REWORDED),
        make_sample("t3", (coffee,), answer="Yes."),
        make_sample("t4", (coffee,), answer="Yes!"),
    ]
    first = shingles(normalize_text("<image>\nDescribe this image. " + CAPTION), 5)
    second = shingles(normalize_text("<image>\nDescribe this image. " + REWORDED), 5)
    assert jaccard(first, second) == pytest.approx(0.9237, abs=1e-4)

    result = find_duplicates(samples, store, DedupConfig())
    assert [(drop.sample_id, drop.reason) for drop in result.drops] == [("t4", "exact_duplicate")]


def test_templates_are_boilerplate_and_what_differs_decides() -> None:
    template = "Look at the picture carefully and answer with a single word: what colour is the {}?"
    texts = [normalize_text(template.format(thing) + " " + answer) for thing, answer in [("car", "red"), ("cart", "red")]]
    texts += [normalize_text(template.format(f"thing{index}") + " blue") for index in range(40)]
    sets = [shingles(text, 5) for text in texts]
    common = boilerplate(sets, share=0.1, min_samples=20)
    assert shingles(normalize_text("look at the picture carefully"), 5) <= common
    assert "hing1" not in common  # in 11 of 42 texts: thing1 and thing10 to thing19
    assert jaccard(sets[0], sets[1]) == pytest.approx(0.894, abs=1e-3)  # above 0.8: the template makes them look alike
    assert text_similarity(sets[0], sets[1], common) == pytest.approx(jaccard(sets[0] - common, sets[1] - common))
    assert text_similarity(sets[0], sets[1], common) < 0.8
    assert text_similarity(sets[2], sets[2], common) == 1.0
    assert boilerplate(sets[:10], share=0.1, min_samples=20) == frozenset()  # too few samples to call anything a template
    only_template = shingles(normalize_text(template.format("")), 5) & common
    assert text_similarity(only_template, only_template, common) == 1.0  # nothing but boilerplate: compared whole


def test_annotation_text_holds_every_kind_of_annotation() -> None:
    from vlforge.records import GuiAction, OcrLine, VideoEvent

    sample = make_sample(
        "k1",
        answer="Done.",
        question="Click <b>OK</b>",
        ocr_lines=(OcrLine(text="Total: 12,50 EUR"),),
        choices=("Yes",),
        actions=(GuiAction(type="click", point=(1.0, 2.0), text="OK"),),
        video_events=(VideoEvent(start_s=1.25, end_s=3.0, description="A ball rolls."),),
    )
    assert annotation_text(sample) == (
        "user click <b>ok<b> | assistant done | ocr total 1250 eur | choice yes | action click ok | event 1.2 3.0 a ball rolls"
    )


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


def test_gram_table_leaves_boilerplate_out_in_place_and_keeps_all_boilerplate_rows_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "COMPACT_ROWS", 2)  # several blocks of rows, so compacting crosses block ends
    rows = [[5, 1, 7], [], [1, 2], [], [9, 2, 4, 1], [2], [8]]
    table = GramTable()
    for row in rows:
        table.append(row)
    common = table.common(share=0.3, min_samples=1)
    assert common.tolist() == [1, 2]  # in 3 and 3 of 7 rows; 3 > max(0.3 * 7, 1)
    table.drop_common(common)
    assert [table.row(row).tolist() for row in range(len(table))] == [[5, 7], [], [1, 2], [], [9, 4], [2], [8]]
    assert table.sizes().tolist() == [2, 0, 2, 0, 2, 1, 1]  # rows 2 and 5 are nothing but boilerplate: whole
    assert table.total == len(table.ids) == 8 and table.read(0, 8).tolist() == [5, 7, 1, 2, 9, 4, 2, 8]  # memory given back


def test_similar_sets_of_a_gram_table_equal_those_of_its_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "COMPACT_ROWS", 7)  # the prefix index is built a block of rows at a time
    rng = np.random.default_rng(3)
    sets = [frozenset(rng.choice(30, size=int(rng.integers(0, 12)), replace=False).tolist()) for _ in range(80)]
    table = GramTable()
    for tokens in sets:
        table.append(sorted(tokens))
    expected = [
        (i, j, jaccard(sets[i], sets[j]))
        for i, j in itertools.combinations(range(len(sets)), 2)
        if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= 0.5
    ]
    assert expected and similar_sets(table, 0.5) == expected


def test_similar_texts_compare_own_ngrams_and_all_boilerplate_texts_whole() -> None:
    common = frozenset({"aaaaa", "bbbbb", "ccccc"})
    texts = {
        "own-1": frozenset({"aaaaa", "xxxxx", "yyyyy"}),
        "own-2": frozenset({"bbbbb", "xxxxx", "yyyyy"}),  # the same own n-grams, other boilerplate
        "own-3": frozenset({"aaaaa", "zzzzz"}),
        "all-1": frozenset({"aaaaa", "bbbbb"}),
        "all-2": frozenset({"aaaaa", "bbbbb"}),
        "all-3": frozenset({"ccccc"}),
        "empty": frozenset(),
    }
    assert similar_texts(texts, common, 0.8) == {("own-1", "own-2"): 1.0, ("all-1", "all-2"): 1.0}
    brute = {
        (a, b): text_similarity(texts[a], texts[b], common)
        for a, b in itertools.combinations(sorted(texts), 2)
        if texts[a] and texts[b] and text_similarity(texts[a], texts[b], common) >= 0.8
    }
    assert similar_texts(texts, common, 0.8) == brute


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
