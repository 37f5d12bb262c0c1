"""Every format the recipe names, each in its own folder, with paths relative to the exports folder."""

from __future__ import annotations

from pathlib import Path

from export_samples import grounding_sample, multi_image_sample

from vlforge.config import Recipe
from vlforge.export import EXPORTERS, export_all


def test_export_all_writes_every_format_of_the_recipe(tmp_path: Path, recipe: Recipe) -> None:
    written = export_all([grounding_sample(), multi_image_sample()], tmp_path, "ds", recipe)
    assert recipe.export.formats == ("qwen_vl_chatml", "qwen2_5_vl", "qwen3_vl", "llamafactory")
    assert written == {
        "qwen_vl_chatml": ["qwen_vl_chatml/ds.jsonl"],
        "qwen2_5_vl": ["qwen2_5_vl/ds.json"],
        "qwen3_vl": ["qwen3_vl/ds.json"],
        "llamafactory": ["llamafactory/ds.json", "llamafactory/dataset_info.json"],
    }
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()) == sorted(
        name for files in written.values() for name in files
    )


def test_every_recipe_format_has_an_exporter(recipe: Recipe) -> None:
    assert set(recipe.export.formats) <= set(EXPORTERS)
