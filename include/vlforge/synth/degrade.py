"""Degraded copies of clean pages with the augment ops, boxes moved by the same geometry, difficulty measured.

Each op of the recipe is applied with its probability (drawn from the ``rng`` passed in), with
params from its own ``sample(rng)``; what was applied is returned as lineage entries, so a replay
applies the same params. The copy's difficulty is Tesseract's read-back accuracy on it against
its moved lines (``documents.checks``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlforge.augment.ops import build_op
from vlforge.augment.targets import Targets
from vlforge.records import LineageOp, OcrLine
from vlforge.synth.samples import lineage_entry


@dataclass(frozen=True)
class DegradedPage:
    pixels: np.ndarray
    lines: tuple[OcrLine, ...]
    lineage: tuple[LineageOp, ...]
    lost: tuple[str, ...]


def build_degradations(ops: Sequence[dict[str, dict[str, Any]]]) -> list[tuple[Any, float]]:
    """The recipe's ops, built (unknown names and bad params raise, naming them), with their probabilities."""
    built = []
    for entry in ops:
        ((name, params),) = entry.items()
        params = dict(params)
        probability = float(params.pop("probability", 1.0))
        built.append((build_op(name, params), probability))
    return built


def degrade(pixels: np.ndarray, lines: Sequence[OcrLine], ops: list[tuple[Any, float]], rng: np.random.Generator) -> DegradedPage:
    """One degraded copy: each op applied with its probability, params drawn from ``rng``."""
    applied = []
    for op, probability in ops:
        if rng.random() < probability:
            applied.append((op, op.sample(rng)))
    return apply_degradations(pixels, lines, applied)


def apply_degradations(pixels: np.ndarray, lines: Sequence[OcrLine], applied: list[tuple[Any, dict[str, Any]]]) -> DegradedPage:
    """Apply ops with fixed params in order (deterministic): the replay path."""
    height, width = pixels.shape[:2]
    targets = Targets(width=width, height=height, ocr_lines=tuple(lines))
    lineage = []
    for op, params in applied:
        pixels, targets = op.apply(pixels, targets, params)
        lineage.append(lineage_entry(op.name, {**params, "min_visibility": op.params.min_visibility}))
    kept = tuple(line for line in targets.ocr_lines if line is not None)
    return DegradedPage(pixels, kept, tuple(lineage), targets.lost)


def replay_degradations(pixels: np.ndarray, lines: Sequence[OcrLine], lineage: Sequence[LineageOp]) -> DegradedPage:
    """Re-apply lineage entries of augment ops (their recorded params) to a re-rendered clean page."""
    applied = []
    for entry in lineage:
        params = json.loads(entry.params_json)
        applied.append((build_op(entry.op, {"min_visibility": params.pop("min_visibility")}), params))
    return apply_degradations(pixels, lines, applied)
