"""Every format the recipe names, each in its own folder, with paths relative to the exports folder."""

from __future__ import annotations

import time
import typing
from pathlib import Path

from export_samples import COCO, SMALL, WIDE, grounding_sample, multi_image_sample, write_images

from vlforge.config import ExportConfig, ExportFormat, Recipe
from vlforge.export import EXPORTERS, export_all


def test_export_all_writes_every_format_of_the_recipe(tmp_path: Path, recipe: Recipe) -> None:
    write_images(tmp_path, COCO, WIDE, SMALL)  # the release's images/, beside exports/
    exports = tmp_path / "exports"
    written = export_all([grounding_sample(), multi_image_sample()], exports, "ds", recipe)
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
    assert written == {
        "qwen_vl_chatml": ["qwen_vl_chatml/ds.jsonl"],
        "qwen2_5_vl": ["qwen2_5_vl/ds.json"],
        "qwen3_vl": ["qwen3_vl/ds.json"],
        "llamafactory": ["llamafactory/ds.json", "llamafactory/dataset_info.json"],
        "ms_swift": ["ms_swift/ds.jsonl"],
        "coco": ["coco/instances_ds.json", "coco/captions_ds.json"],
        "csv": ["csv/ds.csv"],
        "parquet": ["parquet/ds.parquet"],
        "webdataset": ["webdataset/ds-000000.tar"],
    }
    assert sorted(str(path.relative_to(exports)) for path in exports.rglob("*") if path.is_file()) == sorted(
        name for files in written.values() for name in files
    )


def test_every_recipe_format_has_an_exporter(recipe: Recipe) -> None:
    assert set(recipe.export.formats) <= set(EXPORTERS)
    assert set(EXPORTERS) == set(typing.get_args(ExportFormat)) == set(ExportConfig().formats)


def test_all_formats_are_fast_enough_for_the_default_release(tmp_path: Path, recipe: Recipe) -> None:
    # the default recipe exports every format; on a handful of samples that must stay well under 2 s
    write_images(tmp_path, COCO, WIDE, SMALL)
    samples = [grounding_sample(), multi_image_sample()] * 3
    samples = [sample.model_copy(update={"sample_id": f"{sample.sample_id}-{index}"}) for index, sample in enumerate(samples)]
    start = time.perf_counter()
    export_all(samples, tmp_path / "exports", "ds", recipe)
    assert time.perf_counter() - start < 2.0
