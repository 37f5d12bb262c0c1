"""Curating an annotated set as VQA and grounding exports look: 400 samples over 28 real photos and 6 crops of them.

Each photo carries ten distinct annotations (captions and questions built from templates,
boxes-only grounding rounds with different boxes); planted copies (the same annotation again,
on the same file or on a re-encoded half-size copy) must go, every distinct annotation must stay,
val and test must land within the recipe's tolerance, and a chain of blends from one photo to
another (each step a near-duplicate of the next, the ends unrelated) must keep both ends.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from curate_helpers import SKIMAGE, make_sample, reencoded
from PIL import Image

from vlforge.curate import CurateConfig, curate
from vlforge.curate.dedup import image_hashes
from vlforge.curate.facts import split_rows
from vlforge.records import Box, ImageRef, Sample
from vlforge.store import ImageStore

Put = Callable[[Path | bytes], ImageRef]
OPENCV = Path("debian_opencv_doc_4.6.0+dfsg-12")
PHOTOS = [
    *(SKIMAGE / name for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png", "motorcycle_left.png", "page.png", "text.png")),
    *(OPENCV / "text" / f"scenetext0{number}.jpg" for number in range(1, 7)),
    *(OPENCV / "data" / name for name in ("fruits.jpg", "box_in_scene.png", "licenseplate_motion.jpg", "text_defocus.jpg")),
    *(Path("llamafactory/data/mllm_demo_data") / f"{number}.jpg" for number in (1, 2, 3)),
    Path("qwen3vl_finetune/demo/images/COCO_train2014_000000580957.jpg"),
    Path("qwen3vl_finetune/demo/images/10095.png"),
    Path("qwen3vl_finetune/demo/images/10149.png"),
    Path("label_studio_converter/tests/data/test_import_yolo_data_unif_dims/images/img_1.jpg"),
    Path("label_studio_ml_backend_tesseract/test_images/image.jpeg"),
    Path("debian_python-matplotlib-data_3.6.3-1/grace_hopper.jpg"),
    Path("qwen25vl_cookbook_gui/assets/agent_function_call/mobile_en_example.png"),
]
CROPPED = [
    Path("seeclick/test_img.png"),
    Path("qwen25vl_cookbook_gui/assets/computer_use/computer_use2.jpeg"),
    SKIMAGE / "astronaut.png",
    OPENCV / "text" / "scenetext01.jpg",
    OPENCV / "data" / "fruits.jpg",
    Path("qwen3vl_finetune/demo/images/COCO_train2014_000000580957.jpg"),
]
THINGS = ["person", "car", "sign", "tree", "window", "cup", "cat", "bicycle", "letter", "button", "door", "lamp"]
COLOURS = ["red", "blue", "green", "white", "black", "yellow"]
CAPTION_PROMPT = "Describe this image in one sentence, mentioning the main objects and where they are."
QUESTION_TEMPLATES = [
    "Look at the picture carefully and answer with a single number: how many {thing}s can you see?",
    "Look at the picture carefully and answer with a single word: what colour is the {thing}?",
    "Look at the picture carefully and answer briefly: where is the {thing} in the picture?",
]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _crop(fixtures: Path, path: Path) -> bytes:
    """The top-left quarter of a real photo: a new picture with real content."""
    with Image.open(fixtures / path) as image:
        rgb = image.convert("RGB")
        return _png(rgb.crop((0, 0, rgb.width // 2, rgb.height // 2)))


def _annotations(index: int, image: ImageRef) -> list[dict[str, object]]:
    """Ten distinct annotations of one image: 3 captions, 4 questions, 3 boxes-only grounding rounds."""
    things = [THINGS[(index + offset) % len(THINGS)] for offset in range(4)]
    colour = COLOURS[index % len(COLOURS)]
    annotations: list[dict[str, object]] = [
        {"question": CAPTION_PROMPT, "answer": f"A {colour} {things[k]} next to a {things[k + 1]} in the picture."} for k in range(3)
    ]
    annotations += [
        {"question": QUESTION_TEMPLATES[k % 3].format(thing=things[k]), "answer": str(k + 2) if k % 3 == 0 else (colour if k % 3 == 1 else "On the left.")}
        for k in range(4)
    ]
    width, height = image.width, image.height
    for k in range(3):
        box = Box(x1=width * 0.1 * (k + 1), y1=height * 0.1, x2=width * (0.1 * (k + 1) + 0.25), y2=height * 0.6, label=things[k])
        annotations.append({"answer": None, "task_type": "grounding", "boxes": (box,)})
    return annotations


def _key(sample: Sample) -> tuple[object, ...]:
    """An annotation of an image as a person would compare it: the image, words of each turn, boxes relative to the image."""
    words = tuple((turn.role, re.sub(r"[^\w ]", "", turn.content.lower()).split()) for turn in sample.conversations)
    image = sample.images[0]
    boxes = tuple(
        (box.label, round(box.x1 / image.width, 3), round(box.y1 / image.height, 3), round(box.x2 / image.width, 3), round(box.y2 / image.height, 3))
        for box in sample.boxes
    )
    return (image.sha256, str(words), boxes)


@pytest.fixture
def annotated(put: Put, fixtures_dir: Path) -> dict[str, object]:
    images = [put(path) for path in PHOTOS] + [put(_crop(fixtures_dir, path)) for path in CROPPED]
    samples: list[Sample] = []
    for index, image in enumerate(images):
        for number, fields in enumerate(_annotations(index, image)):
            samples.append(make_sample(f"p{index:02d}-a{number}", (image,), **fields))  # type: ignore[arg-type]
    distinct = list(samples)

    planted: list[tuple[str, str]] = []  # (copy, original)

    def plant(copy: Sample, original: Sample) -> None:
        samples.append(copy)
        planted.append((copy.sample_id, original.sample_id))

    for index in range(0, 34, 3):  # the same annotation again on the same file
        original = distinct[index * 10 + index % 10]
        plant(original.model_copy(update={"sample_id": f"x-exact-{index:02d}"}), original)
    for index in range(2, 34, 3):  # again, the answer in capitals and with other punctuation
        original = distinct[index * 10 + (index + 7) % 10]
        turns = tuple(
            turn.model_copy(update={"content": turn.content.upper().replace(".", "!")}) if turn.role == "assistant" else turn
            for turn in original.conversations
        )
        plant(original.model_copy(update={"sample_id": f"x-shout-{index:02d}", "conversations": turns}), original)
    for index in [0, *range(1, 28, 3), 27]:  # the same annotation on a re-encoded half-size copy of the photo
        original = distinct[index * 10 + (index + 5) % 10]
        half = put(reencoded(fixtures_dir / PHOTOS[index], scale=0.5, quality=70))
        scale_x, scale_y = half.width / original.images[0].width, half.height / original.images[0].height
        boxes = tuple(
            box.model_copy(update={"x1": box.x1 * scale_x, "y1": box.y1 * scale_y, "x2": box.x2 * scale_x, "y2": box.y2 * scale_y})
            for box in original.boxes
        )
        plant(original.model_copy(update={"sample_id": f"x-half-{index:02d}", "images": (half,), "boxes": boxes}), original)

    with Image.open(fixtures_dir / "images_from_wheels/sklearn/china.jpg") as first, Image.open(fixtures_dir / OPENCV / "data" / "fruits.jpg") as last:
        start, end = first.convert("RGB"), last.convert("RGB").resize(first.size)
        chain = [put(_png(Image.blend(start, end, step / 25))) for step in range(26)]
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    samples += [
        make_sample(f"chain-{letter}", (image,), question=CAPTION_PROMPT, answer="A temple roof among trees, with a bowl of fruit in front.")
        for letter, image in zip(letters, chain, strict=True)
    ]
    return {"samples": samples, "distinct": distinct, "planted": planted, "chain": chain}


def test_every_distinct_annotation_survives_and_only_copies_go(annotated: dict[str, object], store: ImageStore) -> None:
    samples: list[Sample] = annotated["samples"]  # type: ignore[assignment]
    distinct: list[Sample] = annotated["distinct"]  # type: ignore[assignment]
    planted: list[tuple[str, str]] = annotated["planted"]  # type: ignore[assignment]
    chain: list[ImageRef] = annotated["chain"]  # type: ignore[assignment]
    assert len(samples) == 400 and len(distinct) == 340 and len({_key(sample) for sample in distinct}) == 340
    hashes = image_hashes(samples, store)
    chain_hashes = [hashes[image.sha256] for image in chain]
    steps = [bin(chain_hashes[k] ^ chain_hashes[k + 1]).count("1") for k in range(25)]
    assert max(steps) <= 8 and bin(chain_hashes[0] ^ chain_hashes[25]).count("1") > 24  # a chain whose ends differ

    config = CurateConfig()
    result = curate(samples, store, config, seed=3)
    kept_ids = {kept.sample.sample_id for kept in result.kept}

    kept_keys = Counter(_key(kept.sample) for kept in result.kept)
    assert all(kept_keys[_key(sample)] >= 1 for sample in distinct), "a distinct annotation was dropped"
    assert {sample.sample_id for sample in distinct} <= kept_ids  # the originals are kept, their copies go
    dropped = {drop.sample_id: drop for drop in result.dropped}
    assert {copy for copy, _ in planted} <= set(dropped)
    for copy, original in planted:
        pair = next(pair for pair in result.duplicate_pairs if pair.dropped == copy)
        assert pair.kept == original
        assert dropped[copy].reason == ("near_duplicate" if copy.startswith("x-half") else "exact_duplicate")

    chain_kept = sorted(sample_id for sample_id in kept_ids if sample_id.startswith("chain-"))
    assert chain_kept[0] == "chain-A" and chain_kept[-1] == "chain-Z"
    assert 2 < len(chain_kept) < 26
    by_id = {sample.sample_id: sample for sample in samples}
    for pair in result.duplicate_pairs:  # no transitive drops: each is within the threshold of its kept sample
        distance = bin(hashes[by_id[pair.dropped].images[0].sha256] ^ hashes[by_id[pair.kept].images[0].sha256]).count("1")
        assert distance <= 8 and pair.kept in kept_ids
    for first, second in [(a, b) for a in chain_kept for b in chain_kept if a < b]:
        distance = bin(hashes[by_id[first].images[0].sha256] ^ hashes[by_id[second].images[0].sha256]).count("1")
        assert distance > 8, f"kept {first} and {second} are duplicates of each other"
    assert set(result.counts()) == {"exact_duplicate", "near_duplicate"}
    assert len(result.dropped) == len(planted) + 26 - len(chain_kept)
    assert len(result.dropped) / 400 < config.max_drop_share

    stats = {"samples_in": 400, **result.to_json()}
    rows = {row["split"]: row for row in split_rows(stats, config.splits)}
    assert all(row["off_target"] is None for row in rows.values()), rows
    assert rows["val"]["samples"] > 0 and rows["test"]["samples"] > 0
    assert abs(rows["val"]["share"] - 0.05) <= 0.02 and abs(rows["test"]["share"] - 0.05) <= 0.02
    splits_of_image: dict[int, set[str]] = {}
    for kept in result.kept:
        splits_of_image.setdefault(hashes[kept.sample.images[0].sha256], set()).add(kept.split)
    for first, second in itertools.combinations(splits_of_image, 2):  # no picture in two splits, not even a near copy
        if bin(first ^ second).count("1") <= 8:
            assert splits_of_image[first] == splits_of_image[second]
    assert all(len(splits) == 1 for splits in splits_of_image.values()), "samples of one image straddle splits"


def test_old_behaviour_would_have_collapsed_it(annotated: dict[str, object], store: ImageStore) -> None:
    """Image-level dedup (the caption-pair choice) keeps one sample per picture: the recipe must ask for it."""
    samples: list[Sample] = annotated["samples"]  # type: ignore[assignment]
    result = curate(samples, store, CurateConfig.model_validate({"dedup": {"level": "image"}}), seed=3)
    per_image = Counter(kept.sample.images[0].sha256 for kept in result.kept)
    assert set(per_image.values()) == {1}
    assert result.counts()["same_media"] > 300
    assert result.to_json()["drop_share"] > 0.8

