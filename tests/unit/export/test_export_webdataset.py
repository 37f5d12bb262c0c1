"""WebDataset tar shards, read back with the ``webdataset`` package."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import webdataset as wds
from export_samples import COCO, SMALL, WIDE, caption_sample, grounding_sample, multi_image_sample, write_images
from PIL import Image

from vlforge.config import Recipe
from vlforge.export.qwen_finetune import chat_messages
from vlforge.export.render import ExportError
from vlforge.export.webdataset import SeenKeys, export

SAMPLES = [grounding_sample(), multi_image_sample(), caption_sample()]


def shards(tmp_path: Path, recipe: Recipe, per_shard: int = 2) -> list[Path]:
    write_images(tmp_path / "release", COCO, WIDE, SMALL)
    return export(SAMPLES, tmp_path / "release/exports/webdataset", "ds", recipe, samples_per_shard=per_shard)


def test_shard_names_and_members(tmp_path: Path, recipe: Recipe) -> None:
    paths = shards(tmp_path, recipe)
    folder = tmp_path / "release/exports/webdataset"
    assert paths == [folder / "ds-000000.tar", folder / "ds-000001.tar"]
    assert sorted(path.name for path in folder.iterdir()) == ["ds-000000.tar", "ds-000001.tar"]
    with tarfile.open(paths[0]) as archive:
        assert archive.getnames() == [
            "grounding-1.jpg",
            "grounding-1.json",
            "multi-1.0.png",
            "multi-1.1.png",
            "multi-1.json",
        ]
    with tarfile.open(paths[1]) as archive:
        assert archive.getnames() == ["caption-1.jpg", "caption-1.json"]


def test_webdataset_reads_back_every_sample(tmp_path: Path, recipe: Recipe) -> None:
    paths = shards(tmp_path, recipe)
    loaded = list(wds.WebDataset([str(path) for path in paths], shardshuffle=False).decode("pil"))
    assert [item["__key__"] for item in loaded] == ["grounding-1", "multi-1", "caption-1"]
    grounding, multi, caption = loaded
    assert isinstance(grounding["jpg"], Image.Image) and grounding["jpg"].size == (640, 428)
    assert multi["0.png"].size == (1000, 500) and multi["1.png"].size == (200, 100)
    assert multi["1.png"].convert("RGB").getpixel((0, 0)) == (0xCC, 0xCC, 0xCC)
    assert grounding["json"] == {
        "sample_id": "grounding-1",
        "task_type": "grounding",
        "images": ["jpg"],
        "messages": chat_messages(grounding_sample(), recipe),
    }
    assert multi["json"]["images"] == ["0.png", "1.png"]
    assert caption["json"]["messages"][1] == {"role": "assistant", "content": "Carrots in a bowl, 胡萝卜."}


def test_raw_bytes_equal_the_release_images(tmp_path: Path, recipe: Recipe) -> None:
    paths = shards(tmp_path, recipe, per_shard=1000)
    assert [path.name for path in paths] == ["ds-000000.tar"]
    images_dir = tmp_path / "release/images"
    loaded = list(wds.WebDataset([str(paths[0])], shardshuffle=False))
    assert len(loaded) == len(SAMPLES)
    for item, sample in zip(loaded, SAMPLES, strict=True):
        meta = json.loads(item["json"])
        assert meta["sample_id"] == sample.sample_id
        for field, image in zip(meta["images"], sample.images, strict=True):
            assert item[field] == (images_dir / image.file_name).read_bytes()


def test_same_samples_give_identical_shards(tmp_path: Path, recipe: Recipe) -> None:
    first = [path.read_bytes() for path in shards(tmp_path, recipe)]
    second = [path.read_bytes() for path in shards(tmp_path, recipe)]
    assert first == second


def test_duplicate_or_dotted_keys_are_refused(tmp_path: Path, recipe: Recipe) -> None:
    with pytest.raises(ExportError, match="duplicate sample ids"):
        export([grounding_sample(), grounding_sample()], tmp_path, "ds", recipe)
    with pytest.raises(ExportError, match="'a.b': a WebDataset key must be non-empty, without '.'"):
        export([grounding_sample().model_copy(update={"sample_id": "a.b"})], tmp_path, "ds", recipe)


def test_seen_keys_find_a_repeat_before_and_after_they_are_merged() -> None:
    keys = SeenKeys()
    written = [f"s{index}" for index in range(SeenKeys.MERGE_EVERY * 2 + 10)]
    assert not any(keys.add(key) for key in written)
    assert all(keys.add(key) for key in (written[0], written[SeenKeys.MERGE_EVERY], written[-1]))
    assert not keys.add("s-new")
