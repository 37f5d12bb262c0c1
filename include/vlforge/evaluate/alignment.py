"""Image-text alignment of a release: recall@K with a local CLIP-family model, per origin and per augment op.

A sample takes part when it is a caption with an image: its first image and its first assistant answer
are a pair. Shards embed their pairs (``embed_shard``); the merge (``alignment_results``) retrieves:

- within ``all`` and each ``origin=real|augmented|synthetic``: image->text (``recall@K``) and text->image
  (``text_to_image_recall@K``) among that subset's pairs;
- per augment op: each copy's image and its parent's image retrieve from one gallery, the captions of
  every original (non-copy) pair, the parent's caption as target. Rows ``op=<op>`` and ``op=<op>/parents``
  (``flags.compare_copies``), and a flag where the copies' recall falls further than the recipe tolerates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from vlforge.evaluate.flags import Flag, compare_copies
from vlforge.evaluate.origins import ORIGINS, Origin
from vlforge.evaluate.results import EvaluationRow
from vlforge.evaluate.retrieval import paired_recall, subset_recall
from vlforge.evaluate.shards import EvaluationShard, shard_samples, write_shard_arrays, write_shard_results
from vlforge.layout import EvaluationDir, ReleaseDir
from vlforge.records import Sample

EVALUATOR = "alignment"


class Embedder(Protocol):
    """What embeds image-text pairs (``synth.scenes.clip_score.ClipScorer``; a stand-in in tests of the math)."""

    def embeddings(self, images: list[Image.Image], texts: list[str]) -> tuple[np.ndarray, np.ndarray]: ...


def caption_text(sample: Sample) -> str | None:
    """The sample's caption when it takes part in alignment (a caption sample with an image), else ``None``."""
    if sample.task_type != "caption" or not sample.images:
        return None
    answer = next((turn.content.strip() for turn in sample.conversations if turn.role == "assistant" and turn.content.strip()), "")
    return answer or None


def embed_shard(release: ReleaseDir, folder: EvaluationDir, shard: EvaluationShard, embedder: Embedder, batch_size: int) -> int:
    """Embed one shard's image-caption pairs and write them (``sample_id`` and ``text`` rows; ``images``/``texts`` arrays).

    Returns:
        How many pairs were embedded.
    """
    pairs = [(sample, text) for sample in shard_samples(release, shard) if (text := caption_text(sample)) is not None]
    image_parts, text_parts = [], []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        images = [_open(release.images / sample.images[0].file_name) for sample, _ in batch]
        image_embeds, text_embeds = embedder.embeddings(images, [text for _, text in batch])
        image_parts.append(image_embeds)
        text_parts.append(text_embeds)
    empty = np.zeros((0, 0), dtype=np.float32)
    write_shard_arrays(folder, shard, {
        "images": np.concatenate(image_parts) if image_parts else empty,
        "texts": np.concatenate(text_parts) if text_parts else empty,
    })
    write_shard_results(folder, shard, [{"sample_id": sample.sample_id, "text": text} for sample, text in pairs])
    return len(pairs)


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


@dataclass(frozen=True)
class AlignmentResult:
    rows: list[EvaluationRow]
    flags: list[Flag]


def alignment_results(
    sample_ids: Sequence[str],
    images: np.ndarray,
    texts: np.ndarray,
    origins: dict[str, Origin],
    *,
    model: str,
    ks: Sequence[int],
    tolerance: dict[str, float],
    min_pairs: int,
    examples: int,
) -> AlignmentResult:
    """Recall@K rows per subset and per augment op, and the ops flagged (see the module docstring).

    Args:
        sample_ids: the embedded pairs' samples, row ``i`` of ``images`` and ``texts`` being sample ``i``.
        images, texts: unit-length embeddings.
        origins: every sample's origin.
        model: the CLIP model's name in the rows.
        ks: recall@K's K values.
        tolerance: the flag tolerance per metric (``recall@5``); a metric without one is not judged.
        min_pairs, examples: as for ``flags.compare_copies``.
    """
    rows: list[EvaluationRow] = []
    index = {sample_id: position for position, sample_id in enumerate(sample_ids)}
    subsets = {"all": list(sample_ids), **{f"origin={kind}": [s for s in sample_ids if origins[s].kind == kind] for kind in ORIGINS}}
    for subset, members in subsets.items():
        if not members:
            continue
        rows_of = [index[sample_id] for sample_id in members]
        recall = subset_recall(images[rows_of], texts[rows_of], ks)
        misses = [members[i] for i in np.argsort(-recall.image_ranks, kind="stable")[:examples] if recall.image_ranks[i] > 0]
        shown = [{"sample_id": sample_id, "rank": int(recall.image_ranks[members.index(sample_id)])} for sample_id in misses]
        for k in ks:
            rows.append(EvaluationRow(EVALUATOR, model, f"recall@{k}", subset, recall.image_to_text[k], recall.count, shown))
            rows.append(EvaluationRow(EVALUATOR, model, f"text_to_image_recall@{k}", subset, recall.text_to_image[k], recall.count, []))
    # Copies against their own parents: does the copy's image still retrieve the parent's caption within K?
    gallery_ids = [sample_id for sample_id in sample_ids if origins[sample_id].parent is None]
    gallery_row = {sample_id: position for position, sample_id in enumerate(gallery_ids)}
    pairs = [(s, origins[s].parent) for s in sample_ids if origins[s].parent in gallery_row]
    flags: list[Flag] = []
    if not pairs:
        return AlignmentResult(rows, flags)
    paired = paired_recall(
        images[[index[copy] for copy, _ in pairs]],
        images[[index[parent] for _, parent in pairs]],
        texts[[index[sample_id] for sample_id in gallery_ids]],
        [gallery_row[parent] for _, parent in pairs],
        ks,
    )
    for k in ks:
        metric = f"recall@{k}"
        values = {copy: float(rank < k) for (copy, _), rank in zip(pairs, paired.copy_ranks, strict=True)}
        values |= {parent: float(rank < k) for (_, parent), rank in zip(pairs, paired.parent_ranks, strict=True)}
        found = compare_copies(values, {copy: origins[copy] for copy, _ in pairs}, evaluator=EVALUATOR, model=model, metric=metric,
                               tolerance=tolerance.get(metric, tolerance.get("*")), min_pairs=min_pairs, examples=examples)
        rows += found.rows
        flags += found.flags
    return AlignmentResult(rows, flags)
