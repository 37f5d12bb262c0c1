"""Benchmark: data-side evaluation throughput, samples per second, of the two mapped evaluators.

A made-up release in a temporary folder: ``--captions`` caption samples (scikit-image's photographs,
cycled) and ``--pages`` OCR samples (three lines of text drawn with Pillow's default font, their boxes
from ``textbbox``). Measured, one shard each, as the mapped tasks run them:

- ``alignment``: ``embed_shard`` with a CLIP model (``--clip``: a local folder; default a tiny random CLIP
  built offline, which measures the plumbing, image decoding and batching rather than a real model);
- ``ocr_readability``: ``read_shard`` with Tesseract (one process per page, as ``synth.stage.tesseract_words``).

Run::

    PYTHONPATH=include:tests .venv/bin/python bench/bench_evaluate_data.py --captions 64 --pages 16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.tiny_scenes import build_tiny_clip

from vlforge.evaluate.alignment import embed_shard
from vlforge.evaluate.readability import read_shard
from vlforge.evaluate.shards import plan_shards
from vlforge.layout import EvaluationDir, ReleaseDir
from vlforge.manifest import write_split_manifest
from vlforge.records import Box, ImageRef, OcrLine, Sample, Source, Turn
from vlforge.store import ImageStore

LINES = ("INVOICE 2041", "Coffee 2 x 3.50", "TOTAL 12.50 EUR")


def _stored(store: ImageStore, release: ReleaseDir, image: Image.Image, suffix: str) -> ImageRef:
    path = release.path / f"tmp.{suffix}"
    image.save(path)
    digest = store.put(path.read_bytes(), suffix)
    path.unlink()
    store.link_into(digest, suffix, release.images)
    return ImageRef(sha256=digest, width=image.width, height=image.height, format=suffix)


def make_release(folder: Path, captions: int, pages: int) -> tuple[ReleaseDir, list[Sample]]:
    release = ReleaseDir(folder / "release")
    release.path.mkdir(parents=True)
    store = ImageStore(folder / "store")
    photos = sorted(path for path in (resources.files("skimage") / "data").iterdir() if path.name.endswith((".png", ".jpg")))
    samples = []
    for index in range(captions):
        with Image.open(photos[index % len(photos)]) as photo:
            ref = _stored(store, release, photo.convert("RGB"), "png")
        samples.append(Sample(sample_id=f"c{index:05d}", task_type="caption", images=(ref,), source=Source(file="bench", record_id=f"c{index}"),
                              conversations=(Turn(role="user", content="<image>Describe."), Turn(role="assistant", content=f"photo {index}"))))
    font = ImageFont.load_default(size=28)
    for index in range(pages):
        page = Image.new("RGB", (520, 200), "white")
        draw = ImageDraw.Draw(page)
        lines = []
        for row, text in enumerate(LINES):
            x1, y1, x2, y2 = draw.textbbox((20, 20 + 55 * row), text, font=font)
            draw.text((20, 20 + 55 * row), text, fill="black", font=font)
            lines.append(OcrLine(text=text, box=Box(x1=x1, y1=y1, x2=x2, y2=y2, label="Text")))
        ref = _stored(store, release, page, "png")
        samples.append(Sample(sample_id=f"p{index:05d}", task_type="ocr", images=(ref,), ocr_lines=tuple(lines),
                              source=Source(file="bench", record_id=f"p{index}")))
    write_split_manifest(samples, ["train"] * len(samples), release.manifest)
    return release, samples


def measure(captions: int, pages: int, clip: Path | None = None, batch_size: int = 32) -> dict[str, Any]:
    """Samples and seconds of one alignment shard and one OCR read-back shard over a made-up release."""
    from vlforge.synth.scenes.clip_score import ClipScorer
    from vlforge.synth.stage import tesseract_words

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        release, samples = make_release(folder, captions, pages)
        model = clip or build_tiny_clip(folder / "tiny-clip", ["photo"])
        evaluation = EvaluationDir(folder / "evaluation")
        scorer = ClipScorer(str(model), key="evaluate.clip_model_path")
        (caption_shard,) = plan_shards("alignment", [s.sample_id for s in samples if s.task_type == "caption"], len(samples))
        scorer.embeddings([Image.new("RGB", (32, 32))], ["warm up"])  # the model loads once per task: not a sample's cost
        start = time.perf_counter()
        pairs = embed_shard(release, evaluation, caption_shard, scorer, batch_size)
        aligned_s = time.perf_counter() - start
        (page_shard,) = plan_shards("ocr_readability", [s.sample_id for s in samples if s.task_type == "ocr"], len(samples))
        start = time.perf_counter()
        read = read_shard(release, evaluation, page_shard, tesseract_words)
        read_s = time.perf_counter() - start
    return {"model": "tiny random CLIP" if clip is None else str(clip), "pairs": pairs, "aligned_s": aligned_s, "read": read, "read_s": read_s}


def run(quick: bool) -> dict[str, Any]:
    """The harness entry (``bench/run.py``): alignment and OCR read-back samples/s."""
    m = measure(16, 4) if quick else measure(64, 16)
    figures = [
        {"label": f"alignment shard ({m['model']})", "value": m["pairs"] / m["aligned_s"], "unit": "samples/s"},
        {"label": "OCR read-back shard (Tesseract)", "value": m["read"] / m["read_s"], "unit": "samples/s"},
    ]
    return {"figures": figures, "aims": [], "notes": [f"{m['pairs']} caption and {m['read']} OCR samples, one shard each"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captions", type=int, default=64)
    parser.add_argument("--pages", type=int, default=16)
    parser.add_argument("--clip", type=Path, default=None, help="a local CLIP folder (default: a tiny random one)")
    parser.add_argument("--batch-size", type=int, default=32)
    arguments = parser.parse_args()
    m = measure(arguments.captions, arguments.pages, arguments.clip, arguments.batch_size)
    print(f"alignment ({m['model']}): {m['pairs']} samples in {m['aligned_s']:.2f} s, {m['pairs'] / m['aligned_s']:.1f} samples/s")
    print(f"ocr_readability (Tesseract): {m['read']} samples in {m['read_s']:.2f} s, {m['read'] / m['read_s']:.2f} samples/s")


if __name__ == "__main__":
    main()
