"""Alignment's plumbing with a tiny random CLIP built offline: shards embed, the merge retrieves per origin and per op."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.tiny_scenes import build_tiny_clip, one_torch_thread

from vlforge.evaluate.alignment import alignment_results, embed_shard
from vlforge.evaluate.origins import origins
from vlforge.evaluate.shards import plan_shards, read_arrays, read_results, write_plan
from vlforge.layout import EvaluationDir, ReleaseDir
from vlforge.manifest import write_split_manifest
from vlforge.records import ImageRef, LineageOp, Sample, Source, Turn
from vlforge.store import sha256_bytes

CAPTIONS = ("a red car", "a black cat", "a cup of coffee", "a rocket")


def _sample(release: ReleaseDir, name: str, caption: str, pixels: np.ndarray, lineage: tuple[LineageOp, ...] = ()) -> Sample:
    release.images.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    path = release.images / "tmp.png"
    image.save(path)
    digest = sha256_bytes(path.read_bytes())
    path.rename(release.images / f"{digest}.png")
    return Sample(
        sample_id=name, task_type="caption", images=(ImageRef(sha256=digest, width=48, height=40, format="png"),),
        conversations=(Turn(role="user", content="<image>Describe."), Turn(role="assistant", content=caption)),
        source=Source(file="t.json", record_id=name), lineage=lineage,
    )


@pytest.mark.slow
def test_tiny_clip_embeds_shards_and_the_merge_compares_copies_with_parents(tmp_path: Path) -> None:
    from vlforge.synth.scenes.clip_score import ClipScorer

    rng = np.random.default_rng(0)
    release = ReleaseDir(tmp_path / "release")
    parents = [_sample(release, f"p{i}", caption, rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for i, caption in enumerate(CAPTIONS)]
    copies = [
        _sample(release, f"c{i}", parent.conversations[1].content, rng.integers(0, 255, (40, 48, 3), dtype=np.uint8),
                (LineageOp(op="parent", params_json=json.dumps({"sample_id": parent.sample_id})), LineageOp(op="random_erasing")))
        for i, parent in enumerate(parents[:2])
    ]
    samples = parents + copies
    write_split_manifest(samples, ["train"] * len(samples), release.manifest)
    model = build_tiny_clip(tmp_path / "tiny-clip", [word for caption in CAPTIONS for word in caption.split()])
    folder = EvaluationDir(tmp_path / "evaluation")
    shards = plan_shards("alignment", [sample.sample_id for sample in samples], 4)
    write_plan(folder, {"alignment": shards})
    scorer = ClipScorer(str(model), key="evaluate.clip_model_path")
    with one_torch_thread():
        assert [embed_shard(release, folder, shard, scorer, batch_size=2) for shard in shards] == [3, 3]
    ids = [row["sample_id"] for row in read_results(folder, "alignment")]
    images, texts = read_arrays(folder, "alignment", "images"), read_arrays(folder, "alignment", "texts")
    assert ids == ["c0", "c1", "p0", "p1", "p2", "p3"] and images.shape == texts.shape == (6, 16)
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    result = alignment_results(ids, images, texts, origins(samples), model="tiny-clip", ks=(1, 6), tolerance={"recall@1": 0.0},
                               min_pairs=1, examples=2)
    rows = {(row.metric, row.subset): row for row in result.rows}
    assert rows[("recall@6", "all")].value == 1.0 and rows[("recall@6", "all")].count == 6  # 6 candidates: all within 6
    assert rows[("recall@1", "origin=real")].count == 4 and rows[("recall@1", "origin=augmented")].count == 2
    assert rows[("recall@1", "op=random_erasing")].count == 2
    assert rows[("recall@6", "op=random_erasing/parents")].value == 1.0  # the gallery holds the 4 parents' captions
    # Whatever the random model retrieves, a flag at tolerance 0 is exactly a copy doing worse than its parents.
    copies_value, parents_value = rows[("recall@1", "op=random_erasing")].value, rows[("recall@1", "op=random_erasing/parents")].value
    assert bool(result.flags) == (copies_value < parents_value)
