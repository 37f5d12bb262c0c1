"""A small synthetic run for the augment stage tests: 64x64 images in the run's store, a curated split manifest."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vlforge.augment.stage import augment_shard, merge_augmented, plan_shards
from vlforge.config import Recipe, load_recipe
from vlforge.manifest import write_split_manifest
from vlforge.prepare import prepare_run
from vlforge.records import Box, ImageRef, LineageOp, OcrLine, Sample, Source, Turn
from vlforge.run import RunDescription
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


def with_augment(recipe: Recipe, **update: object) -> Recipe:
    """``recipe`` with its ``augment`` section's fields in ``update`` replaced."""
    return recipe.model_copy(update={"augment": recipe.augment.model_copy(update=update)})


def augment_run(
    home: Path, recipe: Recipe | None = None, *, seed: int = 11, phase: str = "main", shard_size: int = 8
) -> RunDescription:
    """Prepare run ``aug/run1`` under ``home`` with ``recipe`` (default: ``default.yaml``) in shards of ``shard_size``.

    Preparing it again in the same ``home`` (another recipe or phase) keeps its curated manifest and store.
    """
    recipe = with_augment(recipe or load_recipe("default"), shard_size=shard_size)
    return prepare_run(home, "aug", "run1", recipe, seed=seed, phase=phase)


def write_curated(run: RunDescription, samples: list[Sample], splits: list[str] | None = None) -> None:
    """Write ``samples`` as the run's curated split manifest, all in ``train`` unless ``splits`` says otherwise."""
    write_split_manifest(samples, splits or ["train"] * len(samples), run.run_dir.curated)


def make_curated(run: RunDescription, train: int, held_out: int = 2, ocr_every: int = 5) -> list[Sample]:
    """The run's curated manifest: ``train`` train samples (every ``ocr_every``-th an OCR one) and ``held_out`` each of val and test.

    Their images go to the run's store.

    Returns:
        The train samples.
    """
    samples, splits = [], []
    for index in range(train + 2 * held_out):
        task = "ocr" if ocr_every and index % ocr_every == 0 else "grounding"
        samples.append(make_sample(index, run.store, task))
        splits.append("train" if index < train else ("val" if index < train + held_out else "test"))
    write_curated(run, samples, splits)
    return samples[:train]


def augment_all(run: RunDescription, scorer: object | None = None) -> dict:
    """Plan the run's shards, augment each (paraphrases scored by ``scorer``, a ``FakeScorer`` by default), merge.

    Returns:
        The merged augment counts.
    """
    for shard in plan_shards(run):
        augment_shard(run, shard, scorer=scorer or FakeScorer())
    return merge_augmented(run)


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
