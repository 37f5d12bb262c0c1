"""What the release report shows about synthesis: the real/synthetic mix per task type."""

from __future__ import annotations

from collections import Counter

from vlforge.records import TASK_TYPES, Sample


def mix_by_task_type(samples: list[Sample]) -> list[dict[str, object]]:
    """One row per task type present: real and synthetic counts and the synthetic share, in ``TASK_TYPES`` order."""
    return mix_of_counts(Counter((sample.task_type, sample.synthetic) for sample in samples))


def mix_of_counts(counts: Counter[tuple[str, bool]]) -> list[dict[str, object]]:
    """``mix_by_task_type`` from the number of samples per (task type, synthetic), however they were counted."""
    rows = []
    for task_type in TASK_TYPES:
        real, synthetic = counts[(task_type, False)], counts[(task_type, True)]
        if real or synthetic:
            rows.append({"task_type": task_type, "real": real, "synthetic": synthetic,
                         "synthetic_share": round(synthetic / (real + synthetic), 4)})
    return rows
