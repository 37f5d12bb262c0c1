"""Box agreement between two annotation rounds: IoU, one-to-one matching per label.

Boxes are vlforge's absolute pixel ``x1, y1, x2, y2``. IoU of two boxes is
``intersection / union`` with ``union = area_a + area_b - intersection``, the
COCO definition for non-crowd boxes (``pycocotools.mask.iou`` with
``iscrowd=0``). A box with ``x2 <= x1`` or ``y2 <= y1`` has zero area; when the
union is zero (two degenerate boxes) the IoU is 0.

Agreement of two rounds: the boxes of each ``(image_index, label)`` group are
matched one-to-one so that the total IoU is maximal (Hungarian algorithm,
``scipy.optimize.linear_sum_assignment``), and every box left without a partner,
on either side, counts as IoU 0. A group with ``n_a`` and ``n_b`` boxes therefore
contributes its matched IoU sum over ``max(n_a, n_b)`` slots, and a sample's
agreement is the sum of matched IoU over the sum of slots of all groups. A box
whose label the other round never used is a slot with IoU 0: a label mismatch
is a disagreement, not a near miss.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vlforge.records import Box

BoxesLike = Sequence[Box] | np.ndarray


def boxes_to_array(boxes: BoxesLike) -> np.ndarray:
    """Boxes as a float64 ``(N, 4)`` array of ``x1, y1, x2, y2``.

    Args:
        boxes: vlforge boxes, or an array-like of ``x1, y1, x2, y2`` rows.

    Returns:
        A new ``(N, 4)`` array (``(0, 4)`` when there are none).
    """
    if isinstance(boxes, np.ndarray):
        array = np.array(boxes, dtype=np.float64, copy=True)
    else:
        array = np.array([(box.x1, box.y1, box.x2, box.y2) for box in boxes], dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as x1, y1, x2, y2; got shape {array.shape}")
    return array


def iou_matrix(boxes_a: BoxesLike, boxes_b: BoxesLike) -> np.ndarray:
    """Pairwise IoU of two sets of boxes, vectorised.

    Args:
        boxes_a: ``N`` boxes (vlforge boxes or ``x1, y1, x2, y2`` rows).
        boxes_b: ``M`` boxes.

    Returns:
        An ``(N, M)`` float64 array; entry ``[i, j]`` is the IoU of ``boxes_a[i]``
        and ``boxes_b[j]`` (0 where the union is empty).
    """
    a, b = boxes_to_array(boxes_a), boxes_to_array(boxes_b)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    inter_w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    inter_h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = inter_w * inter_h
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: Box, b: Box) -> float:
    """IoU of two boxes (labels and image indices are ignored).

    Args:
        a: a box.
        b: another box.

    Returns:
        ``intersection / union`` in ``[0, 1]``; 0 when the union is empty.
    """
    return float(iou_matrix([a], [b])[0, 0])


def match_boxes(boxes_a: BoxesLike, boxes_b: BoxesLike) -> list[tuple[int, int, float]]:
    """One-to-one matching of two sets of boxes with the largest total IoU (Hungarian).

    Labels are not looked at: group boxes by label first (``iou_agreement`` does).

    Args:
        boxes_a: ``N`` boxes.
        boxes_b: ``M`` boxes.

    Returns:
        ``min(N, M)`` triples ``(index_a, index_b, iou)``, sorted by ``index_a``;
        a pair with IoU 0 is a forced pairing that counts as no overlap.
    """
    matrix = iou_matrix(boxes_a, boxes_b)
    if matrix.size == 0:
        return []
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(int(i), int(j), float(matrix[i, j])) for i, j in zip(rows, cols, strict=True)]


@dataclass(frozen=True)
class LabelAgreement:
    """Matched IoU of one label: ``iou_sum`` over ``slots`` (the larger of the two box counts, summed over images)."""

    iou_sum: float
    slots: int

    @property
    def mean(self) -> float:
        return self.iou_sum / self.slots


def label_agreement(boxes_a: Sequence[Box], boxes_b: Sequence[Box]) -> dict[str, LabelAgreement]:
    """Matched IoU sum and slot count per label, matching within each ``(image_index, label)`` group.

    Args:
        boxes_a: round A's boxes.
        boxes_b: round B's boxes.

    Returns:
        ``{label: LabelAgreement}`` for every label used by either round, sorted by label.
    """
    groups: dict[tuple[int, str], tuple[list[Box], list[Box]]] = defaultdict(lambda: ([], []))
    for box in boxes_a:
        groups[(box.image_index, box.label)][0].append(box)
    for box in boxes_b:
        groups[(box.image_index, box.label)][1].append(box)
    sums: dict[str, float] = defaultdict(float)
    slots: dict[str, int] = defaultdict(int)
    for (_, label), (group_a, group_b) in groups.items():
        sums[label] += sum(iou for _, _, iou in match_boxes(group_a, group_b))
        slots[label] += max(len(group_a), len(group_b))
    return {label: LabelAgreement(iou_sum=sums[label], slots=slots[label]) for label in sorted(slots)}


def per_label_iou(boxes_a: Sequence[Box], boxes_b: Sequence[Box]) -> dict[str, float]:
    """Mean matched IoU per label, unmatched boxes counting as 0.

    Args:
        boxes_a: round A's boxes.
        boxes_b: round B's boxes.

    Returns:
        ``{label: mean IoU}`` for every label either round used: 1.0 for a label
        both rounds drew identically, 0.0 for a label only one round used.
    """
    return {label: agreement.mean for label, agreement in label_agreement(boxes_a, boxes_b).items()}


def iou_agreement(boxes_a: list[Box], boxes_b: list[Box]) -> float | None:
    """Box agreement of two rounds: matched IoU per label, unmatched boxes as 0, over all boxes.

    ``sum(matched IoU) / sum(max(n_a, n_b))`` over ``(image_index, label)``
    groups, so every box of either round weighs the same.

    Args:
        boxes_a: round A's boxes.
        boxes_b: round B's boxes.

    Returns:
        Agreement in ``[0, 1]``; ``None`` when neither round has a box (nothing
        to compare), 0.0 when only one round has boxes.
    """
    if not boxes_a and not boxes_b:
        return None
    per_label = label_agreement(boxes_a, boxes_b).values()
    return sum(item.iou_sum for item in per_label) / sum(item.slots for item in per_label)
