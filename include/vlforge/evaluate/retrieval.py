"""Image-text retrieval recall@K: pure functions over unit-length embeddings, no model here.

A query's rank is the number of candidates scored strictly higher than its target (0 is the top), so
tied candidates, e.g. two samples with the same caption, do not push each other down. recall@K is the
share of queries whose target ranks below K. Within a subset, image ``i`` and text ``i`` belong
together (image->text: each image retrieves among the subset's texts; text->image the other way).

Per augment op the drop is made attributable: a copy and its parent query the same text gallery for
the same target, the parent's caption, so ``parent recall - copy recall`` is what the op cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def target_ranks(similarity: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Each row's rank of its target column: how many columns scored strictly higher.

    Args:
        similarity: ``queries x candidates`` scores.
        targets: the target column of each row.

    Returns:
        An int array, one rank per row (0 is the top).

    Raises:
        ValueError: when the shapes disagree or a target is outside the candidates.
    """
    scores = np.asarray(similarity, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != len(targets):
        raise ValueError(f"similarity of shape {scores.shape} needs one target per row, got {len(targets)}")
    index = np.asarray(targets, dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= scores.shape[1]):
        raise ValueError(f"targets {index.tolist()} outside the {scores.shape[1]} candidates")
    if not index.size:
        return np.zeros(0, dtype=np.int64)
    own = scores[np.arange(len(index)), index]
    return (scores > own[:, None]).sum(axis=1).astype(np.int64)


def recall_at_k(ranks: np.ndarray, ks: Sequence[int]) -> dict[int, float | None]:
    """The share of ranks below each K; ``None`` for every K when there are no queries."""
    ranks = np.asarray(ranks)
    return {int(k): (float((ranks < k).mean()) if ranks.size else None) for k in ks}


@dataclass(frozen=True)
class SubsetRecall:
    """Recall@K both ways within one subset of image-text pairs."""

    image_to_text: dict[int, float | None]
    text_to_image: dict[int, float | None]
    image_ranks: np.ndarray
    count: int


def subset_recall(images: np.ndarray, texts: np.ndarray, ks: Sequence[int]) -> SubsetRecall:
    """Retrieval within a subset whose image ``i`` and text ``i`` are a pair.

    Args:
        images: ``n x d`` unit-length image embeddings.
        texts: ``n x d`` unit-length text embeddings, in the same order.
        ks: the K values.

    Returns:
        Image->text and text->image recall@K and each image's rank of its own text.
    """
    if images.shape[0] != texts.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {texts.shape[0]} texts: a subset holds pairs")
    similarity = images @ texts.T if images.size else np.zeros((images.shape[0], texts.shape[0]))
    own = list(range(images.shape[0]))
    image_ranks = target_ranks(similarity, own)
    text_ranks = target_ranks(similarity.T, own)
    return SubsetRecall(recall_at_k(image_ranks, ks), recall_at_k(text_ranks, ks), image_ranks, images.shape[0])


@dataclass(frozen=True)
class PairedRecall:
    """Copies and their parents retrieving the parents' captions from one gallery."""

    copies: dict[int, float | None]
    parents: dict[int, float | None]
    copy_ranks: np.ndarray
    parent_ranks: np.ndarray


def paired_recall(
    copy_images: np.ndarray, parent_images: np.ndarray, gallery: np.ndarray, targets: Sequence[int], ks: Sequence[int]
) -> PairedRecall:
    """Image->text recall@K of copies and of their own parents against the same text gallery.

    Args:
        copy_images: ``n x d`` image embeddings of the copies.
        parent_images: ``n x d`` image embeddings of each copy's parent, in the same order.
        gallery: ``m x d`` text embeddings to retrieve from.
        targets: each pair's caption: its row of ``gallery`` (the parent's caption).
        ks: the K values.

    Returns:
        Recall@K of the copies and of the parents, and every query's rank.
    """
    if copy_images.shape[0] != parent_images.shape[0]:
        raise ValueError(f"{copy_images.shape[0]} copies but {parent_images.shape[0]} parents: pairs are needed")
    copy_ranks = target_ranks(copy_images @ gallery.T, targets)
    parent_ranks = target_ranks(parent_images @ gallery.T, targets)
    return PairedRecall(recall_at_k(copy_ranks, ks), recall_at_k(parent_ranks, ks), copy_ranks, parent_ranks)
