"""Parquet that ``datasets.load_dataset("parquet", ...)`` loads with PIL images and chat messages."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from export_samples import COCO, SMALL, WIDE, grounding_sample, gui_sample, multi_image_sample, write_images
from PIL import Image

from vlforge.config import Recipe
from vlforge.export.parquet import SCHEMA, export
from vlforge.export.qwen_finetune import chat_messages
from vlforge.export.render import ExportError

SAMPLES = [grounding_sample(), multi_image_sample(), gui_sample()]


def exported(tmp_path: Path, recipe: Recipe) -> Path:
    write_images(tmp_path / "release", COCO, WIDE, SMALL, gui_sample().images[0])
    (path,) = export(SAMPLES, tmp_path / "release/exports/parquet", "ds", recipe)
    return path


def test_schema_metadata_is_what_datasets_writes() -> None:
    features = datasets.Features(
        {
            "sample_id": datasets.Value("string"),
            "task_type": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
            "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
        }
    )
    assert SCHEMA == features.arrow_schema
    assert SCHEMA.metadata == features.arrow_schema.metadata


def test_datasets_loads_images_and_messages(tmp_path: Path, recipe: Recipe) -> None:
    path = exported(tmp_path, recipe)
    assert path == tmp_path / "release/exports/parquet/ds.parquet"
    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(loaded) == 3
    assert loaded.features["images"] == datasets.List(datasets.Image())
    assert loaded["sample_id"] == ["grounding-1", "multi-1", "gui-1"]
    assert loaded["task_type"] == ["grounding", "vqa", "gui_action"]
    first, second, third = loaded[0], loaded[1], loaded[2]
    assert all(isinstance(image, Image.Image) for row in (first, second, third) for image in row["images"])
    assert [image.size for image in first["images"]] == [(640, 428)]
    assert [image.size for image in second["images"]] == [(1000, 500), (200, 100)]
    assert second["images"][1].convert("RGB").getpixel((0, 0)) == (0xCC, 0xCC, 0xCC)  # SMALL is filled with #cccccc
    for row, sample in zip((first, second, third), SAMPLES, strict=True):
        assert row["messages"] == chat_messages(sample, recipe)
    # Qwen3-VL relative box 228, 320, 961, 970 (see test_export_qwen_finetune) and the 0-999 GUI click
    assert first["messages"][1]["content"] == '[{"bbox_2d": [228, 320, 961, 970], "label": "bowl of carrots"}]'
    assert '"coordinate": [856, 169]' in third["messages"][1]["content"]


def test_images_are_embedded_bytes_with_their_names(tmp_path: Path, recipe: Recipe) -> None:
    path = exported(tmp_path, recipe)
    rows = pq.read_table(path).to_pylist()
    images_dir = tmp_path / "release/images"
    assert [[image["path"] for image in row["images"]] for row in rows] == [
        [COCO.file_name],
        [WIDE.file_name, SMALL.file_name],
        [gui_sample().images[0].file_name],
    ]
    for row in rows:
        for image in row["images"]:
            assert image["bytes"] == (images_dir / image["path"]).read_bytes()


def test_missing_image_is_refused(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path / "release", COCO)
    with pytest.raises(ExportError, match=f"multi-1: image {WIDE.file_name} is missing"):
        export([grounding_sample(), multi_image_sample()], tmp_path / "release/exports/parquet", "ds", recipe)
    assert not (tmp_path / "release/exports/parquet/ds.parquet").exists()
