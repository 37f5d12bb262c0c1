"""Copies against their own parents: per op (and per generator's degradation op), the mean of a per-sample
metric over the copies and over their parents, and a flag where the copies fall further than the recipe tolerates.

A copy counts towards every op that made it; a pair counts only when both the copy and its parent were
scored. The drop is ``parents' mean - copies' mean`` over the same pairs, so it is the op's cost, not a
difference between two unrelated sets of samples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from vlforge.evaluate.origins import Origin
from vlforge.evaluate.results import EvaluationRow

# Float noise: a drop of exactly the tolerance is within it (as compare.py's regressions).
_EPSILON = 1e-9
# Where a flagged op's probability lives in the recipe, by the origin of its copies.
AUGMENT_OPS = "augment.ops"
SYNTH_DEGRADE_OPS = "synth.documents.degrade.ops"


@dataclass(frozen=True)
class Flag:
    """An op, a generator's degradation op, or a generator as a whole (``op`` ``None``), whose copies lose more than
    ``tolerance`` against their parents."""

    evaluator: str
    model: str
    metric: str
    section: str | None
    op: str | None
    generator: str | None
    parents: float
    copies: float
    drop: float
    tolerance: float
    pairs: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """``ocr_degradation (augment.ops): copies lose 0.612 of ocr_word_f1 against their parents (0.948 -> 0.336, ...)``."""
        what = self.op or f"generator {self.generator}"
        where = f" ({self.section})" if self.section else (f" (generator {self.generator})" if self.op else "")
        return (
            f"{what}{where}: copies lose {self.drop:.3f} of {self.metric} against their parents "
            f"({self.parents:.3f} -> {self.copies:.3f}, tolerance {self.tolerance:.3f}, {self.pairs} pair(s))"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Flag:
        return cls(**value)


@dataclass(frozen=True)
class CopyComparison:
    rows: list[EvaluationRow]
    flags: list[Flag]


def compare_copies(
    values: dict[str, float],
    origins: dict[str, Origin],
    *,
    evaluator: str,
    model: str,
    metric: str,
    tolerance: float | None,
    min_pairs: int = 1,
    examples: int = 3,
) -> CopyComparison:
    """Rows ``op=<op>`` (copies) and ``op=<op>/parents`` per op, and a flag per op beyond ``tolerance``.

    Args:
        values: the per-sample metric by sample id (higher is better); samples without a value are left out.
        origins: every sample's origin (``origins.origins``).
        evaluator, model, metric: what the rows and flags are of.
        tolerance: how far the copies' mean may fall below their parents'; ``None`` judges nothing (rows only).
        min_pairs: an op with fewer pairs is reported but never flagged.
        examples: the pairs with the largest drops kept per row and flag.

    Returns:
        The rows (two per op, synthetic ops prefixed ``generator=<g>/``, and two per generator, ``generator=<g>``)
        and the flags.
    """
    pairs: dict[tuple[str | None, str | None], list[tuple[str, str]]] = defaultdict(list)
    for sample_id, origin in origins.items():
        if origin.parent is None or sample_id not in values or origin.parent not in values:
            continue
        for op in dict.fromkeys(origin.ops):
            pairs[(origin.generator, op)].append((sample_id, origin.parent))
        if origin.generator is not None:
            pairs[(origin.generator, None)].append((sample_id, origin.parent))  # the generator's copies, whatever made them
    rows: list[EvaluationRow] = []
    flags: list[Flag] = []
    for (generator, op), members in sorted(pairs.items(), key=lambda item: (item[0][0] or "", item[0][1] or "")):
        copies = sum(values[copy] for copy, _ in members) / len(members)
        parents = sum(values[parent] for _, parent in members) / len(members)
        worst = sorted(members, key=lambda pair: (values[pair[0]] - values[pair[1]], pair[0]))[:examples]
        shown = [{"sample_id": copy, "parent": parent, "copy": values[copy], "parent_value": values[parent]} for copy, parent in worst]
        subset = "/".join(part for part in (generator and f"generator={generator}", op and f"op={op}") if part)
        rows.append(EvaluationRow(evaluator, model, metric, subset, copies, len(members), shown))
        rows.append(EvaluationRow(evaluator, model, metric, f"{subset}/parents", parents, len(members), []))
        drop = parents - copies
        if tolerance is not None and len(members) >= min_pairs and drop > tolerance + _EPSILON:
            # A generator's flag (op None) names no recipe entry: its ops' own flags do.
            section = None if op is None else (AUGMENT_OPS if generator is None else SYNTH_DEGRADE_OPS if generator == "documents" else None)
            flags.append(Flag(evaluator, model, metric, section, op, generator, parents, copies, drop, tolerance, len(members), shown))
    return CopyComparison(rows, flags)


def subset_means(values: dict[str, float], origins: dict[str, Origin], *, evaluator: str, model: str, metric: str,
                 examples: int = 3) -> list[EvaluationRow]:
    """Mean of a per-sample metric over ``all``, each ``origin=<kind>`` and each degradation ``level=<n>`` (ops applied).

    Returns:
        One row per subset that has samples; examples are its lowest-scoring samples.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for sample_id in values:
        origin = origins[sample_id]
        for subset in ("all", f"origin={origin.kind}", f"level={origin.level}"):
            groups[subset].append(sample_id)
    rows = []
    for subset, members in sorted(groups.items()):
        lowest = sorted(members, key=lambda sample_id: (values[sample_id], sample_id))[:examples]
        mean = sum(values[sample_id] for sample_id in members) / len(members)
        rows.append(EvaluationRow(evaluator, model, metric, subset, mean, len(members),
                                  [{"sample_id": sample_id, "value": values[sample_id]} for sample_id in lowest]))
    return rows
