"""A small synthetic run stage for the augment stage tests: 64x64 images in a store, a curated.parquet with splits."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.manifest import samples_to_table
from vlforge.records import Box, ImageRef, LineageOp, OcrLine, Sample, Source, Turn
from vlforge.release import CURATED, SPLIT_COLUMN
from vlforge.store import ImageStore

SIZE = 64


def image_png(index: int) -> bytes:
    """A 64x64 RGB test picture: a gradient, a bright square and seeded noise, so every index differs."""
    rng = np.random.default_rng(index)
    ramp = np.linspace(0, 200, SIZE, dtype=np.float64)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (SIZE, 1)), np.tile(ramp[:, None], (1, SIZE))], axis=-1)
    image[16:40, 8:32] = (250, 240, 30)
    image += rng.normal(0, 8, image.shape)
    ok, buffer = cv2.imencode(".png", np.clip(image, 0, 255).astype(np.uint8))
    assert ok
    return buffer.tobytes()


def make_sample(index: int, store: ImageStore, task_type: str = "grounding") -> Sample:
    data = image_png(index)
    sha = store.put(data, "png")
    ref = ImageRef(sha256=sha, width=SIZE, height=SIZE, format="png")
    source = Source(file="synthetic.json", record_id=str(index))
    if task_type == "ocr":
        return Sample(
            sample_id=f"s{index:015d}",
            task_type="ocr",
            images=(ref,),
            conversations=(
                Turn(role="user", content="<image>\nRead the text in the image."),
                Turn(role="assistant", content="The sign on the left side says OPEN."),
            ),
            ocr_lines=(OcrLine(text="OPEN", box=Box(x1=8, y1=16, x2=32, y2=40)),),
            source=source,
            lineage=(LineageOp(op="ingest_synthetic"),),
        )
    return Sample(
        sample_id=f"s{index:015d}",
        task_type="grounding",
        images=(ref,),
        conversations=(
            Turn(role="user", content="<image>\nWhere is the yellow square?"),
            Turn(role="assistant", content="The yellow square is on the left side of the picture."),
        ),
        boxes=(Box(x1=8, y1=16, x2=32, y2=40, label="square"),),
        source=source,
        lineage=(LineageOp(op="ingest_synthetic"),),
    )


def make_stage(stage: Path, store: ImageStore, train: int, held_out: int = 2, ocr_every: int = 5) -> list[Sample]:
    """Write ``stage/curated.parquet``: ``train`` train samples (every ``ocr_every``-th an OCR one) and ``held_out`` each of val and test.

    Returns:
        The train samples.
    """
    samples, splits = [], []
    for index in range(train + 2 * held_out):
        task = "ocr" if ocr_every and index % ocr_every == 0 else "grounding"
        samples.append(make_sample(index, store, task))
        splits.append("train" if index < train else ("val" if index < train + held_out else "test"))
    table = samples_to_table(samples).append_column(SPLIT_COLUMN, pa.array(splits, type=pa.string()))
    stage.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    (stage / CURATED).write_bytes(buffer.getvalue())
    return samples[:train]


class FakeScorer:
    """A BERTScore stand-in: F1 = the share of the original's words that the candidate keeps."""

    def is_meaningful(self, text: str) -> bool:
        return True

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        out = []
        for candidate, reference in zip(candidates, references, strict=True):
            ref_words, cand_words = reference.lower().split(), set(candidate.lower().split())
            f1 = sum(word in cand_words for word in ref_words) / max(1, len(ref_words))
            out.append((f1, f1, f1))
        return out
