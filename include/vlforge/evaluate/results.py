"""One evaluation result: the row every evaluator returns and the catalog stores, keyed by release, evaluator, model and metric."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvaluationRow:
    """One metric of one evaluator on one subset of a release.

    Args:
        evaluator: what measured it (``alignment``, ``ocr_readability``, ``model``).
        model: the model that measured it (an encoder's or a VLM's name); ``""`` when none did.
        metric: the metric's name (``recall@5``, ``f1``, ``grounding_accuracy``).
        subset: which samples it covers (``all``, ``origin=augmented``, ``op=random_erasing``,
            ``task_type=grounding``, ``degradation=heavy``).
        value: the metric; ``None`` when no sample of the subset could be scored.
        count: how many samples the value covers.
        examples: a few sample ids (with what they show) that explain the value.
    """

    evaluator: str
    model: str
    metric: str
    subset: str
    value: float | None
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvaluationRow:
        return cls(**data)
