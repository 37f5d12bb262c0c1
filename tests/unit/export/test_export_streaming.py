"""The exports stream: written from one pass over each split, they hold the bytes the whole-document writers give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_samples import (
    COCO,
    PHONE,
    SMALL,
    WIDE,
    caption_sample,
    grounding_sample,
    gui_sample,
    multi_image_sample,
    ocr_sample,
    system_sample,
    text_only_sample,
    video_sample,
    write_images,
)

import vlforge.manifest as manifest_module
from vlforge.config import Recipe
from vlforge.export import export_all, export_all_streaming
from vlforge.export.coco import captions, instances
from vlforge.export.json_stream import JsonSpool, write_json_array, write_json_object
from vlforge.export.llamafactory import record as llamafactory_record
from vlforge.export.qwen_finetune import qwen3_vl_coordinates, qwen3_vl_points
from vlforge.export.qwen_finetune import record as finetune_record
from vlforge.export.render import IMAGE_PREFIX
from vlforge.manifest import iter_split_manifest, write_split_manifest
from vlforge.records import Sample
from vlforge.release import SplitSpools

JSON_VALUES: list[object] = [
    {},
    [],
    {"a": [], "b": {}, "c": [1, 2.5, -0.1, 1e-7, 3.0], "d": None, "e": True},
    'line\nbreak, quote " and tab\t',
    {"中文": "テキスト ☃", "nested": [{"x": [[0.1, 0.2], []]}, {"y": {"z": "\u2028"}}]},
    12345678901234567890,
]


@pytest.mark.parametrize("items", [[], [{}], JSON_VALUES, [[JSON_VALUES]]])
def test_a_streamed_array_is_json_dumps_byte_for_byte(tmp_path: Path, items: list[object]) -> None:
    path = tmp_path / "array.json"
    assert write_json_array(path, iter(items)) == len(items)
    assert path.read_text(encoding="utf-8") == json.dumps(items, ensure_ascii=False, indent=2)


@pytest.mark.parametrize("items", [[], JSON_VALUES])
def test_a_streamed_object_is_json_dumps_byte_for_byte(tmp_path: Path, items: list[object]) -> None:
    path = tmp_path / "object.json"
    fields: dict[str, object] = {"info": {"x": [1, {"y": []}]}, "empty": [], "text": "é"}
    assert write_json_object(path, fields, "annotations", iter(items)) == len(items)
    assert path.read_text(encoding="utf-8") == json.dumps(fields | {"annotations": items}, ensure_ascii=False, indent=2)


def test_a_spool_gives_back_what_it_was_given_and_leaves_nothing(tmp_path: Path) -> None:
    with JsonSpool(tmp_path) as spool:
        for value in JSON_VALUES:
            spool.append(value)
        read = list(spool)
    assert json.dumps(read, ensure_ascii=False) == json.dumps(JSON_VALUES, ensure_ascii=False)
    assert list(tmp_path.iterdir()) == []


def _release_samples() -> tuple[list[Sample], list[str]]:
    """Every kind of sample the exporters treat differently, several times over, in all three splits."""
    kinds = [grounding_sample(), multi_image_sample(), ocr_sample(), caption_sample(), system_sample()]
    kinds += [text_only_sample(), video_sample(), gui_sample()]
    samples = [kinds[index % len(kinds)].model_copy(update={"sample_id": f"s{index:03d}"}) for index in range(29)]
    return samples, [("train", "train", "val", "test", "train")[index % 5] for index in range(len(samples))]


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _three_models(recipe: Recipe) -> Recipe:
    models = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
    return recipe.model_copy(update={"export": recipe.export.model_copy(update={"target_models": models})})


def test_exports_read_from_a_manifest_a_row_at_a_time_equal_those_of_the_samples_in_memory(
    tmp_path: Path, recipe: Recipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _three_models(recipe)
    samples, splits = _release_samples()
    written = {}
    for name, batch_rows in (("in_memory", None), ("batch_1", 1), ("batch_1024", 1024)):
        release = tmp_path / name
        write_images(release, COCO, WIDE, SMALL, PHONE)
        if batch_rows is None:
            result = export_all(samples, splits, release / "exports", "ds", recipe)
        else:
            monkeypatch.setattr(manifest_module, "BATCH_ROWS", batch_rows)
            write_split_manifest(samples, splits, release / "manifest.parquet")

            def read_split(split: str, path: Path = release / "manifest.parquet") -> list[Sample]:
                return [sample for sample, its_split in iter_split_manifest(path) if its_split == split]

            result = export_all_streaming(read_split, release / "exports", "ds", recipe)
        written[name] = (
            {format_name: (export.files, export.counts()) for format_name, export in result.items()},
            _files(release / "exports"),
        )
    assert written["batch_1"] == written["in_memory"] == written["batch_1024"]
    counts, files = written["in_memory"]
    assert counts["coco"][1]["skipped_by_reason"] == {"video_not_supported": 3}
    assert len(files) == 48


def test_formats_written_by_forked_workers_from_the_release_spools_equal_those_written_one_after_the_other(
    tmp_path: Path, recipe: Recipe
) -> None:
    recipe = _three_models(recipe)
    samples, splits = _release_samples()
    written = {}
    for workers in (1, 2, 4):
        release = tmp_path / f"workers_{workers}"
        write_images(release, COCO, WIDE, SMALL, PHONE)
        with SplitSpools(release) as spools:
            for sample, split in zip(samples, splits, strict=True):
                spools.add(sample, split)
            spools.finish()
            result = export_all_streaming(spools.read, release / "exports", "ds", recipe, workers)
        written[workers] = (
            {format_name: (export.files, export.counts()) for format_name, export in result.items()},
            _files(release / "exports"),
        )
        assert not list(release.glob(".*.pickle"))  # the spools are gone, none written twice by a worker
    assert written[2] == written[1] == written[4]
    assert list(written[2][0]) == list(recipe.export.formats)  # in the recipe's order, whichever finished first


def test_json_exports_equal_the_whole_documents_of_their_records(tmp_path: Path, recipe: Recipe) -> None:
    samples, splits = _release_samples()
    train = [sample for sample, split in zip(samples, splits, strict=True) if split == "train" and not sample.videos]
    write_images(tmp_path, COCO, WIDE, SMALL, PHONE)
    export_all(train, ["train"] * len(train), tmp_path / "exports", "ds", recipe)
    exports = tmp_path / "exports"
    whole = {
        "coco/instances_ds_train.json": instances(train, "ds_train"),
        "coco/captions_ds_train.json": captions(train, "ds_train", recipe.prompts.caption),
        "qwen3_vl/ds_train.json": [
            finetune_record(sample, recipe, qwen3_vl_coordinates, IMAGE_PREFIX, qwen3_vl_points) for sample in train
        ],
        "llamafactory/ds_train.json": [llamafactory_record(sample, recipe, IMAGE_PREFIX) for sample in train],
    }
    for name, document in whole.items():
        assert (exports / name).read_text(encoding="utf-8") == json.dumps(document, ensure_ascii=False, indent=2), name
    assert instances(train, "ds")["annotations"] and captions(train, "ds", recipe.prompts.caption)["annotations"]
