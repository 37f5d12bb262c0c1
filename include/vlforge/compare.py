"""Comparing a new release with the previous one: metric deltas, counts, synthetic share, regressions.

Pure functions over release dicts, either ``RELEASE.json`` content or rows of
the catalog (``vlforge.catalog``), which carry the same keys:

- ``metrics``: the dataset means, ``{name: float | None}`` (``iou_agreement``,
  ``ocr_accuracy``, ``action_completeness``, ``bertscore_f1``, ...); nested
  dicts, e.g. per task type, are flattened to dotted names (``caption.bertscore_f1``);
- ``counts``: ``by_task_type`` (``{task_type: samples}``), optionally ``by_split``,
  and the synthetic samples as ``synthetic_share`` or ``synthetic`` (a count).

Every metric is an agreement score where higher is better. No database, no
files live here: the release DAG reads the dicts, calls
``compare_releases`` and sends ``Comparison.summary()`` to its alerts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_TOLERANCE_KEY = "*"
# Float noise: 0.88 - 0.86 is 0.0200000000000000018, and a fall of exactly the tolerance is within it.
_EPSILON = 1e-9


@dataclass(frozen=True)
class MetricChange:
    """One metric in both releases; ``None`` where a release did not measure it."""

    name: str
    old: float | None
    new: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def regressed(self) -> bool:
        """Fell by more than its tolerance."""
        return self.delta is not None and -self.delta > self.tolerance + _EPSILON

    @property
    def improved(self) -> bool:
        """Rose by more than its tolerance: the same band on both sides, so noise is neither alarm nor cheer."""
        return self.delta is not None and self.delta > self.tolerance + _EPSILON

    def describe(self) -> str:
        """``bertscore_f1 0.8800 -> 0.8100 (-0.0700, tolerance 0.0200)``."""
        if self.delta is None:
            return f"{self.name} {_number(self.old)} -> {_number(self.new)}"
        return f"{self.name} {_number(self.old)} -> {_number(self.new)} ({self.delta:+.4f}, tolerance {self.tolerance:.4f})"


@dataclass(frozen=True)
class CountChange:
    old: int | None
    new: int | None

    @property
    def delta(self) -> int | None:
        return None if self.old is None or self.new is None else self.new - self.old


@dataclass(frozen=True)
class Comparison:
    """A new release against the previous one (``previous_version`` is ``None`` for a first release)."""

    dataset: str
    previous_version: str | None
    new_version: str
    metrics: dict[str, MetricChange] = field(default_factory=dict)
    counts_by_task_type: dict[str, CountChange] = field(default_factory=dict)
    synthetic_share: tuple[float | None, float | None] = (None, None)

    @property
    def regressions(self) -> list[MetricChange]:
        return [change for change in self.metrics.values() if change.regressed]

    @property
    def improvements(self) -> list[MetricChange]:
        return [change for change in self.metrics.values() if change.improved]

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)

    def summary(self) -> str:
        """Human text for alerts: every metric with its old and new value, regressions first.

        Returns:
            A few lines; the first names the releases and says whether the new one regressed.
        """
        name = f"{self.dataset} {self.new_version}"
        if self.previous_version is None:
            measured = ", ".join(f"{change.name} {_number(change.new)}" for change in self.metrics.values()) or "no metrics"
            return f"{name}: first release, nothing to compare with ({measured})."
        regressions = self.regressions
        head = f"{len(regressions)} regression(s)" if regressions else "no regression"
        lines = [f"{name} vs {self.previous_version}: {head}."]
        for change in sorted(self.metrics.values(), key=lambda change: (_rank(change), change.name)):
            if change.old is not None or change.new is not None:
                lines.append(f"  {_TAGS[_rank(change)]:<10} {change.describe()}")
        changed = [f"{task} {c.old or 0} -> {c.new or 0}" for task, c in self.counts_by_task_type.items() if c.old != c.new]
        if changed:
            lines.append("  samples: " + ", ".join(changed))
        old_share, new_share = self.synthetic_share
        if old_share != new_share:
            lines.append(f"  synthetic share {_share(old_share)} -> {_share(new_share)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able content (for ``--json``, Asset metadata and alert payloads)."""
        return {
            "dataset": self.dataset,
            "previous_version": self.previous_version,
            "new_version": self.new_version,
            "metrics": {
                name: asdict(change) | {"delta": change.delta, "regressed": change.regressed, "improved": change.improved}
                for name, change in self.metrics.items()
            },
            "counts_by_task_type": {
                task: asdict(change) | {"delta": change.delta} for task, change in self.counts_by_task_type.items()
            },
            "synthetic_share": {"old": self.synthetic_share[0], "new": self.synthetic_share[1]},
            "regressions": [change.name for change in self.regressions],
            "improvements": [change.name for change in self.improvements],
            "summary": self.summary(),
        }


def compare_releases(previous: dict[str, Any] | None, new: dict[str, Any], tolerance: dict[str, float]) -> Comparison:
    """Compare a new release with the previous one.

    Args:
        previous: the previous release (``RELEASE.json`` content or a catalog row); ``None`` when there is none,
            which gives no regression.
        new: the new release.
        tolerance: how far each metric may fall before it is a regression, by full name (``caption.bertscore_f1``),
            then by metric name (``bertscore_f1``), then under ``"*"``; 0.0 when none applies.

    Returns:
        The comparison: every metric's old/new/delta, sample counts per task type, synthetic share,
        regressions and improvements.

    Raises:
        ValueError: for a negative tolerance.
    """
    bad = {name: value for name, value in tolerance.items() if not value >= 0}
    if bad:
        raise ValueError(f"tolerances must be >= 0, got {bad}")
    old_metrics = release_metrics(previous) if previous else {}
    new_metrics = release_metrics(new)
    names = sorted(set(old_metrics) | set(new_metrics))
    metrics = {
        name: MetricChange(name, old_metrics.get(name), new_metrics.get(name), _tolerance(tolerance, name))
        for name in names
    }
    old_counts = task_type_counts(previous) if previous else {}
    new_counts = task_type_counts(new)
    counts = {
        task: CountChange(old_counts.get(task), new_counts.get(task)) for task in sorted(set(old_counts) | set(new_counts))
    }
    return Comparison(
        dataset=str(new.get("dataset", "")),
        previous_version=str(previous["version"]) if previous else None,
        new_version=str(new.get("version", "")),
        metrics=metrics,
        counts_by_task_type=counts,
        synthetic_share=(synthetic_share(previous) if previous else None, synthetic_share(new)),
    )


def release_metrics(release: dict[str, Any]) -> dict[str, float | None]:
    """A release's metric means as flat ``{name: float | None}``; NaN (nothing measured) becomes ``None``.

    Args:
        release: ``RELEASE.json`` content or a catalog row.

    Returns:
        Nested dicts flattened to dotted names; non-numeric values left out.
    """
    return _flatten(release.get("metrics") or {}, "")


def task_type_counts(release: dict[str, Any]) -> dict[str, int]:
    """Samples per task type (``counts.by_task_type``)."""
    return {str(task): int(count) for task, count in ((release.get("counts") or {}).get("by_task_type") or {}).items()}


def synthetic_share(release: dict[str, Any]) -> float | None:
    """The share of synthetic samples: ``counts.synthetic_share``, else ``counts.synthetic`` over all samples.

    Returns:
        ``None`` when the release does not say.
    """
    counts = release.get("counts") or {}
    if counts.get("synthetic_share") is not None:
        return float(counts["synthetic_share"])
    if counts.get("synthetic") is None:
        return None
    total = counts.get("samples") or sum(task_type_counts(release).values())
    return float(counts["synthetic"]) / total if total else 0.0


def _flatten(values: dict[str, Any], prefix: str) -> dict[str, float | None]:
    flat: dict[str, float | None] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, name + ".")
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            flat[name] = None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _tolerance(tolerance: dict[str, float], name: str) -> float:
    for key in (name, name.rsplit(".", 1)[-1], DEFAULT_TOLERANCE_KEY):
        if key in tolerance:
            return float(tolerance[key])
    return 0.0


_TAGS = ("REGRESSION", "improved", "ok", "n/a")


def _rank(change: MetricChange) -> int:
    if change.regressed:
        return 0
    if change.improved:
        return 1
    return 2 if change.delta is not None else 3


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
