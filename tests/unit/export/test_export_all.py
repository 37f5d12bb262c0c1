"""Every format the recipe names, each in its own folder, once per split, with paths relative to the exports folder."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import time
import typing
from pathlib import Path

import datasets
import pytest
from export_samples import (
    COCO,
    SMALL,
    WIDE,
    caption_sample,
    grounding_sample,
    multi_image_sample,
    video_path_of,
    video_sample,
    write_images,
)

from vlforge.config import ExportConfig, ExportFormat, Recipe
from vlforge.export import EXPORTERS, VIDEO_FORMATS, VIDEO_NOT_SUPPORTED, FormatExport, Skipped, export_all
from vlforge.export.llamafactory import dataset_info_entry
from vlforge.export.render import ExportError


def _three_splits() -> tuple[list, list[str]]:  # type: ignore[type-arg]
    return [grounding_sample(), multi_image_sample(), caption_sample()], ["train", "val", "test"]


def test_export_all_writes_every_format_of_the_recipe_once_per_split(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)  # the release's images/, beside exports/
    exports = tmp_path / "exports"
    samples, splits = _three_splits()
    written = export_all(samples, splits, exports, "ds", recipe)
    assert recipe.export.formats == (
        "qwen_vl_chatml",
        "qwen2_5_vl",
        "qwen3_vl",
        "llamafactory",
        "ms_swift",
        "coco",
        "csv",
        "parquet",
        "webdataset",
    )
    assert {name: list(result.files) for name, result in written.items()} == {
        "qwen_vl_chatml": ["qwen_vl_chatml/ds_train.jsonl", "qwen_vl_chatml/ds_val.jsonl", "qwen_vl_chatml/ds_test.jsonl"],
        "qwen2_5_vl": ["qwen2_5_vl/ds_train.json", "qwen2_5_vl/ds_val.json", "qwen2_5_vl/ds_test.json", "qwen2_5_vl/data_dict.py"],
        "qwen3_vl": ["qwen3_vl/ds_train.json", "qwen3_vl/ds_val.json", "qwen3_vl/ds_test.json", "qwen3_vl/data_dict.py"],
        "llamafactory": [  # 0-1000 boxes (Qwen2-VL, Qwen3-VL), then Qwen2.5-VL's resized pixels, per split
            *(f"llamafactory/ds_{split}{variant}.json" for split in ("train", "val", "test") for variant in ("", "_qwen2_5_vl")),
            "llamafactory/dataset_info.json",
            *(f"llamafactory/train_{model}.yaml" for model in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")),
        ],
        "ms_swift": [  # Qwen2-VL's legacy boxes, then the JSON answers of Qwen2.5-VL and Qwen3-VL, per split
            *(f"ms_swift/ds_{split}{variant}.jsonl" for split in ("train", "val", "test") for variant in ("", "_qwen2_5_vl", "_qwen3_vl")),
            *(f"ms_swift/train_{model}.sh" for model in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")),
        ],
        "coco": [
            "coco/instances_ds_train.json",
            "coco/captions_ds_train.json",
            "coco/instances_ds_val.json",
            "coco/captions_ds_val.json",
            "coco/instances_ds_test.json",
            "coco/captions_ds_test.json",
        ],
        "csv": ["csv/ds_train.csv", "csv/ds_val.csv", "csv/ds_test.csv"],
        "parquet": ["parquet/ds_train.parquet", "parquet/ds_val.parquet", "parquet/ds_test.parquet"],
        "webdataset": ["webdataset/ds_train-000000.tar", "webdataset/ds_val-000000.tar", "webdataset/ds_test-000000.tar"],
    }
    assert all(result.written == {"train": 1, "val": 1, "test": 1} and result.skipped == () for result in written.values())
    assert sorted(str(path.relative_to(exports)) for path in exports.rglob("*") if path.is_file()) == sorted(
        name for result in written.values() for name in result.files
    )


def test_each_split_file_holds_only_that_splits_samples(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)
    exports = tmp_path / "exports"
    samples, splits = _three_splits()
    export_all(samples, splits, exports, "ds", recipe)
    expected = {"train": ["grounding-1"], "val": ["multi-1"], "test": ["caption-1"]}
    for split, ids in expected.items():
        qwen = json.loads((exports / f"qwen3_vl/ds_{split}.json").read_text(encoding="utf-8"))
        assert [item["id"] for item in qwen] == ids
        chatml = (exports / f"qwen_vl_chatml/ds_{split}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["id"] for line in chatml] == ids
        table = list(csv.DictReader(io.StringIO((exports / f"csv/ds_{split}.csv").read_text(encoding="utf-8-sig"))))
        assert [row["sample_id"] for row in table] == ids
        with tarfile.open(exports / f"webdataset/ds_{split}-000000.tar") as archive:
            assert sorted({name.split(".", 1)[0] for name in archive.getnames()}) == ids
    # The train COCO file lists only the train sample's image and box; val's box is on image 2 of 2.
    train_instances = json.loads((exports / "coco/instances_ds_train.json").read_text(encoding="utf-8"))
    assert [image["file_name"] for image in train_instances["images"]] == [COCO.file_name]
    assert [annotation["bbox"] for annotation in train_instances["annotations"]] == [[146, 137, 469, 278]]
    val_instances = json.loads((exports / "coco/instances_ds_val.json").read_text(encoding="utf-8"))
    assert [image["file_name"] for image in val_instances["images"]] == [WIDE.file_name, SMALL.file_name]
    test_captions = json.loads((exports / "coco/captions_ds_test.json").read_text(encoding="utf-8"))
    assert [annotation["caption"] for annotation in test_captions["annotations"]] == ["Carrots in a bowl, 胡萝卜."]


def test_llamafactory_registers_one_entry_per_split_in_one_dataset_info(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)
    samples, splits = _three_splits()
    export_all(samples, splits, tmp_path / "exports", "ds", recipe)
    folder = tmp_path / "exports" / "llamafactory"
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    names = [f"ds_{split}{variant}" for split in ("train", "val", "test") for variant in ("", "_qwen2_5_vl")]
    assert list(info) == names
    for name in names:
        assert info[name] == dataset_info_entry(f"{name}.json", with_system=False)
        assert len(json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))) == 1


def test_datasets_finds_the_parquet_splits_by_their_names(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)
    samples, splits = _three_splits()
    export_all(samples, splits, tmp_path / "exports", "ds", recipe)
    folder = tmp_path / "exports" / "parquet"
    found = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert {split: found[split]["sample_id"] for split in found} == {
        "train": ["grounding-1"],
        "validation": ["multi-1"],
        "test": ["caption-1"],
    }
    named = datasets.load_dataset(
        "parquet",
        data_files={"train": str(folder / "ds_train.parquet"), "validation": str(folder / "ds_val.parquet")},
        cache_dir=str(tmp_path / "cache2"),
    )
    assert (named["train"]["sample_id"], named["validation"]["sample_id"]) == (["grounding-1"], ["multi-1"])


def test_a_split_without_samples_gets_no_files(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)
    exports = tmp_path / "exports"
    written = export_all([grounding_sample(), multi_image_sample()], ["train", "train"], exports, "ds", recipe)
    assert written["llamafactory"] == FormatExport(
        files=(
            "llamafactory/ds_train.json",
            "llamafactory/ds_train_qwen2_5_vl.json",
            "llamafactory/dataset_info.json",
            *(f"llamafactory/train_{model}.yaml" for model in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")),
        ),
        written={"train": 2},
    )
    assert written["webdataset"].files == ("webdataset/ds_train-000000.tar",)
    info = json.loads((exports / "llamafactory/dataset_info.json").read_text(encoding="utf-8"))
    assert list(info) == ["ds_train", "ds_train_qwen2_5_vl"]
    assert "eval_dataset" not in (exports / "llamafactory/train_qwen3_vl.yaml").read_text(encoding="utf-8")
    assert not [path for path in exports.rglob("*") if "_val" in path.name or "_test" in path.name]


def test_video_samples_are_left_out_of_formats_that_cannot_hold_them(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)
    exports = tmp_path / "exports"
    samples = [grounding_sample(), video_sample(), multi_image_sample()]
    written = export_all(samples, ["train", "train", "val"], exports, "ds", recipe)
    assert VIDEO_FORMATS == {"qwen2_5_vl", "qwen3_vl", "llamafactory", "ms_swift", "csv"}
    for name, result in written.items():
        if name in VIDEO_FORMATS:
            assert (result.written, result.skipped) == ({"train": 2, "val": 1}, ())
        else:
            assert result.written == {"train": 1, "val": 1}
            assert result.skipped == (Skipped("video-1", "train", VIDEO_NOT_SUPPORTED),)
    assert written["coco"].counts() == {
        "written": 2,
        "written_by_split": {"train": 1, "val": 1},
        "skipped": 1,
        "skipped_by_reason": {VIDEO_NOT_SUPPORTED: 1},
    }
    assert written["llamafactory"].counts()["skipped_by_reason"] == {}
    train = json.loads((exports / "llamafactory/ds_train.json").read_text(encoding="utf-8"))
    # A file with both kinds registers both columns, and every record carries both keys.
    assert [(item["images"], item["videos"]) for item in train] == [
        (["../../images/" + COCO.file_name], []),
        ([], [video_path_of(video_sample().videos[0])]),
    ]
    info = json.loads((exports / "llamafactory/dataset_info.json").read_text(encoding="utf-8"))
    assert info["ds_train"]["columns"] == {"messages": "messages", "images": "images", "videos": "videos"}
    assert info["ds_val"]["columns"] == {"messages": "messages", "images": "images"}
    chatml = (exports / "qwen_vl_chatml/ds_train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in chatml] == ["grounding-1"]


def test_a_format_whose_every_sample_is_skipped_writes_nothing(tmp_path: Path, recipe: Recipe) -> None:
    formats = recipe.export.model_copy(update={"formats": ("coco", "ms_swift")})
    only = recipe.model_copy(update={"export": formats})
    written = export_all([video_sample()], ["test"], tmp_path / "exports", "ds", only)
    assert written["coco"] == FormatExport(files=(), written={}, skipped=(Skipped("video-1", "test", VIDEO_NOT_SUPPORTED),))
    assert written["ms_swift"].files == (
        "ms_swift/ds_test.jsonl",
        "ms_swift/ds_test_qwen2_5_vl.jsonl",
        "ms_swift/ds_test_qwen3_vl.jsonl",
        *(f"ms_swift/train_{model}.sh" for model in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")),
    )
    assert '--dataset "$here/ds_test_qwen3_vl.jsonl" "$@"' in (tmp_path / "exports/ms_swift/train_qwen3_vl.sh").read_text()
    assert not (tmp_path / "exports" / "coco").exists()


def test_splits_must_match_the_samples(tmp_path: Path, recipe: Recipe) -> None:
    with pytest.raises(ValueError, match="1 splits for 2 samples"):
        export_all([grounding_sample(), caption_sample()], ["train"], tmp_path, "ds", recipe)
    with pytest.raises(ValueError, match=r"unknown splits \['validation'\]; known splits: \['train', 'val', 'test'\]"):
        export_all([grounding_sample()], ["validation"], tmp_path, "ds", recipe)


def test_formats_without_video_refuse_a_video_sample_when_called_directly(tmp_path: Path, recipe: Recipe) -> None:
    for name in sorted(set(EXPORTERS) - VIDEO_FORMATS):
        with pytest.raises(ExportError, match="video-1: has 1 videos .*cannot hold video"):
            EXPORTERS[name]({"train": [video_sample()]}, tmp_path / name, "ds", recipe)


def test_every_recipe_format_has_an_exporter(recipe: Recipe) -> None:
    assert set(recipe.export.formats) <= set(EXPORTERS)
    assert set(EXPORTERS) == set(typing.get_args(ExportFormat)) == set(ExportConfig().formats)
    assert VIDEO_FORMATS <= set(EXPORTERS)


def test_all_formats_are_fast_enough_for_the_default_release(tmp_path: Path, recipe: Recipe) -> None:
    # the default recipe exports every format; on a handful of samples that must stay well under 2 s
    write_images(tmp_path, COCO, WIDE, SMALL)
    samples = [grounding_sample(), multi_image_sample()] * 3
    samples = [sample.model_copy(update={"sample_id": f"{sample.sample_id}-{index}"}) for index, sample in enumerate(samples)]
    start = time.perf_counter()
    export_all(samples, ["train", "train", "train", "train", "val", "test"], tmp_path / "exports", "ds", recipe)
    assert time.perf_counter() - start < 2.0
