"""Benchmark: vlforge's Label Studio ingest against a plain ``json`` + Pillow header read of the same export.

The export (``bench_data``): ``rows`` tasks over ``images`` distinct real photographs (JPEG, 320x240),
one box and one caption each. vlforge's way is ``ingest_source``: it parses every task, resolves and
checks each image reference, decodes each distinct image once, orients it and puts its bytes in the
content-addressed store, converts the box from percent and checks it against the image, and builds
validated samples. The plain way loads the JSON and opens each task's image with Pillow for its size
(the header only). Rows per second of each, best of ``repeat``; the store starts empty each time.

``run(quick)`` is the harness entry (``bench/run.py``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench_data import write_label_studio_export


def plain_read(export: Path) -> int:
    """``json.load`` and each task's image size from its header; returns the rows read."""
    from PIL import Image

    rows = 0
    for task in json.loads(export.read_text(encoding="utf-8")):
        relative = parse_qs(urlparse(task["data"]["image"]).query)["d"][0]
        with Image.open(export.parent / relative) as image:
            width, height = image.size
        rows += bool(width and height and task["annotations"][0]["result"])
    return rows


def run(quick: bool) -> dict[str, Any]:
    """The harness entry: rows/s of vlforge's ingest and of the plain read, and their ratio."""
    from vlforge.config import load_recipe
    from vlforge.ingest import ingest_source
    from vlforge.store import ImageStore

    rows, images, repeat = (10_000, 100, 1) if quick else (100_000, 1_000, 2)
    recipe = load_recipe("default")
    with tempfile.TemporaryDirectory(prefix="bench_ingest.") as temp:
        root = Path(temp)
        export = write_label_studio_export(root / "export", rows, images)
        best = {"vlforge ingest_source": float("inf"), "plain json + Pillow header read": float("inf")}
        for _ in range(repeat):
            shutil.rmtree(root / "store", ignore_errors=True)
            started = time.perf_counter()
            result = ingest_source(str(export), "label_studio", ImageStore(root / "store"), recipe)
            best["vlforge ingest_source"] = min(best["vlforge ingest_source"], time.perf_counter() - started)
            assert result.stats()["rows_ok"] == rows, result.stats()
            started = time.perf_counter()
            assert plain_read(export) == rows
            best["plain json + Pillow header read"] = min(best["plain json + Pillow header read"], time.perf_counter() - started)
    figures = [{"label": name, "value": rows / seconds, "unit": "rows/s"} for name, seconds in best.items()]
    figures.append({"label": "vlforge time / plain time", "value": best["vlforge ingest_source"] / best["plain json + Pillow header read"], "unit": "x"})
    notes = [f"{rows:,} Label Studio tasks over {images:,} distinct real photographs (320x240 JPEG), best of {repeat}"]
    return {"figures": figures, "aims": [], "notes": notes}
