"""Recall@K on hand-made embeddings whose rankings are known."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from vlforge.evaluate.retrieval import paired_recall, recall_at_k, subset_recall, target_ranks

# Three unit directions in the plane: pair 0 and pair 1 match; image 2 points at text 0.
ANGLES = np.deg2rad([0.0, 90.0, 10.0])
TEXT_ANGLES = np.deg2rad([0.0, 90.0, 180.0])


def unit(angles: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_ranks_count_strictly_higher_scores_so_ties_do_not_push_down() -> None:
    similarity = np.array([[0.9, 0.1, 0.5], [0.5, 0.5, 0.7], [0.2, 0.3, 0.1]])
    assert target_ranks(similarity, [0, 0, 2]).tolist() == [0, 1, 2]


def test_empty_queries_give_no_recall() -> None:
    assert target_ranks(np.zeros((0, 3)), []).tolist() == []
    assert recall_at_k(np.array([]), [1, 5]) == {1: None, 5: None}


def test_bad_targets_are_named() -> None:
    with pytest.raises(ValueError, match=r"targets \[3\] outside the 2 candidates"):
        target_ranks(np.zeros((1, 2)), [3])


def test_subset_recall_both_ways_with_known_ranks() -> None:
    recall = subset_recall(unit(ANGLES), unit(TEXT_ANGLES), [1, 2, 3])
    # image 0 -> text 0 (rank 0); image 1 -> text 1 (rank 0); image 2 (10 deg) scores text 0 first, text 1
    # (80 deg away) second, its own text 2 (170 deg away) last: rank 2.
    assert recall.image_ranks.tolist() == [0, 0, 2]
    assert_allclose([recall.image_to_text[k] for k in (1, 2, 3)], [2 / 3, 2 / 3, 1.0])
    # text 0 -> image 0 (1.0) beats image 2 (cos 10); text 1 -> image 1; text 2 (180 deg): image 1 (cos 90 = 0)
    # then image 0 (-1) and image 2 (-0.98): image 2 ranks second.
    assert_allclose([recall.text_to_image[k] for k in (1, 2, 3)], [2 / 3, 1.0, 1.0])


def test_paired_recall_attributes_the_drop_to_the_copies() -> None:
    gallery = unit(np.deg2rad([0.0, 60.0, 120.0]))
    parents = unit(np.deg2rad([0.0, 120.0]))  # each on its caption: rank 0
    copies = unit(np.deg2rad([50.0, 119.0]))  # the first drifted to caption 1: its caption ranks second
    recall = paired_recall(copies, parents, gallery, [0, 2], [1, 2])
    assert recall.parent_ranks.tolist() == [0, 0]
    assert recall.copy_ranks.tolist() == [1, 0]
    assert recall.parents == {1: 1.0, 2: 1.0}
    assert recall.copies == {1: 0.5, 2: 1.0}


def test_mismatched_pairs_raise() -> None:
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        subset_recall(unit(ANGLES[:2]), unit(TEXT_ANGLES[:1]), [1])
