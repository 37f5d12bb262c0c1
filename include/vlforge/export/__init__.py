"""Exports: a release's samples written in each trainer's own format, one module per format.

Every exporter validates each record against its consumer's rules before
writing (an invalid record is a bug upstream and raises ``ExportError``), and
writes image paths relative to its own folder, so that pointing the trainer's
dataset folder at it is enough.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export import coco, csv, llamafactory, ms_swift, parquet, qwen_finetune, qwen_vl_chatml, webdataset
from vlforge.records import Sample

Exporter = Callable[[list[Sample], Path, str, Recipe], list[Path]]
EXPORTERS: dict[str, Exporter] = {
    "qwen_vl_chatml": qwen_vl_chatml.export,
    "qwen2_5_vl": qwen_finetune.export_qwen2_5_vl,
    "qwen3_vl": qwen_finetune.export_qwen3_vl,
    "llamafactory": llamafactory.export,
    "ms_swift": ms_swift.export,
    "coco": coco.export,
    "csv": csv.export,
    "parquet": parquet.export,
    "webdataset": webdataset.export,
}


def export_all(samples: list[Sample], exports_dir: Path, dataset: str, recipe: Recipe) -> dict[str, list[str]]:
    """Write every format the recipe asks for into ``exports_dir/<format>/``.

    Returns:
        The files written per format, relative to ``exports_dir``.
    """
    written = {}
    for name in recipe.export.formats:
        files = EXPORTERS[name](samples, exports_dir / name, dataset, recipe)
        written[name] = [path.relative_to(exports_dir).as_posix() for path in files]
    return written
