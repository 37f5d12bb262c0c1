"""Benchmark: the dashboard's gallery on a big release, and the time to draw its thumbnails.

The release is made up: ``--samples`` rows (5,000 by default) written as a release folder the way
``publish_release`` writes one (``manifest.parquet`` with splits, ``RELEASE.json`` with the default
recipe, images hard-linked into ``images/``) and recorded in a SQLite catalog. The rows are
synthetic (task types, splits, sources, real/augmented/synthetic, boxes with labels, OCR lines,
a GUI click, a conversation, metrics, cycled by index) and the images are real: every colour and
grey photograph in scikit-image's wheel (26 files, 0.1-2.6 MP), cycled. Measured:

- ``gallery, cold``: the first gallery page (24 samples) in a fresh app with nothing cached: it reads
  the manifest and draws the page's 24 thumbnails;
- ``thumbnails``: ``build_thumbnails`` over the whole release (what the release task or a first
  view does), per thumbnail and in all;
- ``gallery, first view``: the first page in a fresh app once the thumbnails exist (reads the
  manifest, builds the index); ``gallery, next views``: the same page again (index cached), best
  of ``--repeat``; and a filtered page (``kind=augmented&lowest=iou_agreement``).

The goal (issue 15): the first page of a 5,000-sample release in under a second. Requests go
through FastAPI's TestClient to the app without Airflow's authentication (which a browser pays
once per request to verify a JWT, the same for any page).

Run::

    PYTHONPATH=include .venv/bin/python bench/bench_dashboard.py --samples 5000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from vlforge.catalog import open_catalog
from vlforge.config import load_recipe
from vlforge.dashboard.app import create_app
from vlforge.layout import DatasetReleases, ReleaseDir
from vlforge.manifest import write_split_manifest
from vlforge.records import Box, GuiAction, ImageRef, LineageOp, Metrics, OcrLine, Sample, Source, Turn
from vlforge.store import ImageStore
from vlforge.views.release_folder import ReleaseFolder
from vlforge.views.thumbnails import build_thumbnails

DATASET, VERSION = "bench", "b5000"
SPLITS = ("train", "train", "train", "val", "test")
KINDS = ("real", "real", "augmented", "synthetic")


def real_images(store: ImageStore) -> list[ImageRef]:
    """Every photograph in scikit-image's wheel, put in ``store``."""
    refs = []
    data = resources.files("skimage") / "data"
    for entry in sorted(data.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".png", ".jpg")):
            with resources.as_file(entry) as path:
                content = path.read_bytes()
                with Image.open(path) as image:
                    width, height = image.size
            extension = entry.name.rsplit(".", 1)[1]
            refs.append(ImageRef(sha256=store.put(content, extension), width=width, height=height, format=extension))
    return refs


def make_sample(index: int, image: ImageRef) -> Sample:
    w, h = image.width, image.height
    kind = KINDS[index % len(KINDS)]
    box = Box(x1=w * 0.1, y1=h * 0.1, x2=w * 0.6, y2=h * 0.5, label=f"object {index % 7}")
    task_type = ("grounding", "caption", "ocr", "gui_action")[index % 4]
    lineage = (
        (LineageOp(op="parent", params_json=json.dumps({"sample_id": f"{index - 2:016x}"})), LineageOp(op="rotate", params_json='{"angle": 5}'))
        if kind == "augmented"
        else ()
    )
    return Sample(
        sample_id=f"{index:016x}",
        task_type=task_type,
        images=(image,),
        conversations=(Turn(role="user", content="<image> What is in the picture?"), Turn(role="assistant", content=f"Sample {index}: an object.")),
        boxes=(box,) if task_type == "grounding" else (),
        ocr_lines=(OcrLine(text=f"line {index}", box=Box(x1=5, y1=5, x2=w * 0.5, y2=30)),) if task_type == "ocr" else (),
        actions=(GuiAction(type="click", point=(w * 0.5, h * 0.5)),) if task_type == "gui_action" else (),
        metrics=Metrics(iou_agreement=0.80 + (index % 20) / 100, rounds_compared=2),
        source=Source(file=f"source_{index % 3}.json", record_id=str(index)),
        lineage=lineage,
        synthetic=kind == "synthetic",
    )


def make_release(root: Path, samples: int) -> tuple[str, Path]:
    """A release folder of ``samples`` rows and its catalog; returns (catalog URL, folder)."""
    store = ImageStore(root / "store")
    images = real_images(store)
    folder = DatasetReleases.of(root, DATASET).version(VERSION)
    rows = [make_sample(index, images[index % len(images)]) for index in range(samples)]
    write_split_manifest(rows, [SPLITS[index % len(SPLITS)] for index in range(samples)], folder.manifest)
    for image in images:
        store.link_into(image.sha256, image.format, folder.images)
    recipe = load_recipe("default")
    release = {
        "dataset": DATASET,
        "version": VERSION,
        "content_hash": "b" * 64,
        "parent_version": None,
        "created_at": "2026-12-01T10:00:00+00:00",
        "counts": {"samples": samples, "by_task_type": {}, "by_split": {}},
        "metrics": {},
        "gates": [],
        "recipe": recipe.model_dump(mode="json"),
        "seed": 0,
    }
    folder.release_json.write_text(json.dumps(release), encoding="utf-8")
    url = f"sqlite:///{root / 'catalog.sqlite'}"
    with open_catalog(url) as catalog:
        catalog.record_release(release | {"path": str(folder.path)})
    return url, folder.path


def timed_get(client: TestClient, path: str, **params: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    return elapsed, response.text.count('class="card sample"')


def fresh_client(url: str) -> TestClient:
    """A new app with the folder caches emptied, as after an API server restart."""
    from vlforge.views import release_folder

    for cached in (release_folder._release_json, release_folder._sample_index, release_folder._fingerprints):
        cached.cache_clear()
    return TestClient(create_app([], catalog_url=url))


def measure(samples: int, repeat: int) -> dict[str, float]:
    """Seconds of the gallery's first page (cold, after a restart, warm, filtered) and of drawing every thumbnail."""
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as temporary:
        root = Path(temporary)
        url, folder = make_release(root, samples)
        page = f"/releases/{DATASET}/{VERSION}/gallery"
        cold, _ = timed_get(fresh_client(url), page)
        result = build_thumbnails(ReleaseFolder(folder))
        assert not result.failed, result.failed
        size = sum(path.stat().st_size for path in ReleaseDir(folder).thumbnails.iterdir())
        client = fresh_client(url)
        first, shown = timed_get(client, page)
        warm = min(timed_get(client, page)[0] for _ in range(repeat))
        filtered = min(timed_get(client, page, kind="augmented", lowest="iou_agreement")[0] for _ in range(repeat))
        images = len(os.listdir(folder / "images"))
    return {"samples": samples, "images": images, "cold_s": cold, "first_s": first, "warm_s": warm, "filtered_s": filtered,
            "shown": shown, "thumbnails": result.drawn, "thumbnails_s": result.seconds, "thumbnails_bytes": size}  # fmt: skip


def run(quick: bool) -> dict:
    """The harness entry (``bench/run.py``): the gallery's first page and the thumbnails, on a 5,000-sample release."""
    m = measure(500 if quick else 5000, 2 if quick else 5)
    figures = [
        {"label": "gallery first page, cold (thumbnails drawn)", "value": m["cold_s"] * 1000, "unit": "ms"},
        {"label": "gallery first page after a restart", "value": m["first_s"] * 1000, "unit": "ms"},
        {"label": "gallery next views", "value": m["warm_s"] * 1000, "unit": "ms"},
        {"label": "gallery, kind=augmented lowest=iou_agreement", "value": m["filtered_s"] * 1000, "unit": "ms"},
        {"label": "thumbnails of the whole release", "value": m["thumbnails"] / max(m["thumbnails_s"], 1e-9), "unit": "thumbnails/s"},
    ]
    aims = [{"label": f"gallery first page on a {m['samples']:,}-sample release", "value": max(m["cold_s"], m["first_s"]) * 1000,
             "op": "<=", "target": 1000.0}]  # fmt: skip
    return {"figures": figures, "aims": aims, "notes": [f"{m['samples']:,} synthetic rows over {m['images']} real images"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    m = measure(args.samples, args.repeat)
    print(f"release of {m['samples']} samples with {m['images']} real images")
    print(f"gallery, cold (manifest read, thumbnails drawn): {m['cold_s'] * 1000:.0f} ms")
    print(f"thumbnails: {m['thumbnails']} drawn in {m['thumbnails_s']:.1f} s, {m['thumbnails_bytes'] / 1e6:.1f} MB")
    print(f"gallery, first view after a restart ({m['shown']} samples): {m['first_s'] * 1000:.0f} ms")
    print(f"gallery, next views (best of {args.repeat}): {m['warm_s'] * 1000:.0f} ms")
    print(f"gallery, kind=augmented lowest=iou_agreement (best of {args.repeat}): {m['filtered_s'] * 1000:.0f} ms")
    print(f"goal: first page under 1000 ms: {'met' if max(m['cold_s'], m['first_s']) < 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
