"""Comparing a release with the previous one: deltas, tolerances, counts, synthetic share and the alert text."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from vlforge.compare import compare_releases, release_metrics, synthetic_share


def _release(version: str, metrics: dict[str, Any], by_task_type: dict[str, int] | None = None, **counts: Any) -> dict[str, Any]:
    return {
        "dataset": "demo",
        "version": version,
        "metrics": metrics,
        "counts": {"by_task_type": by_task_type or {"caption": 10, "grounding": 5}, **counts},
    }


BASE = {"iou_agreement": 0.90, "ocr_accuracy": 0.95, "action_completeness": 1.0, "bertscore_f1": 0.88}


@pytest.mark.parametrize(
    ("new_value", "tolerance", "regressed", "improved"),
    [
        (0.81, 0.02, True, False),  # fell by 0.07, more than the tolerance
        (0.87, 0.02, False, False),  # fell by 0.01, within it
        (0.86, 0.02, False, False),  # fell by exactly the tolerance: not more than it
        (0.88, 0.0, False, False),  # unchanged with no tolerance
        (0.8799, 0.0, True, False),  # any fall is a regression without tolerance
        (0.92, 0.02, False, True),  # rose by more than the tolerance
        (0.89, 0.02, False, False),  # rose within the noise band
    ],
)
def test_regressions_and_improvements_follow_the_tolerance(
    new_value: float, tolerance: float, regressed: bool, improved: bool
) -> None:
    comparison = compare_releases(
        _release("v1", BASE), _release("v2", BASE | {"bertscore_f1": new_value}), {"bertscore_f1": tolerance}
    )
    change = comparison.metrics["bertscore_f1"]
    assert (change.old, change.new) == (0.88, new_value)
    assert change.delta == pytest.approx(new_value - 0.88)
    assert [item.name for item in comparison.regressions] == (["bertscore_f1"] if regressed else [])
    assert [item.name for item in comparison.improvements] == (["bertscore_f1"] if improved else [])
    assert comparison.has_regressions is regressed


def test_every_metric_has_old_new_and_delta() -> None:
    new = BASE | {"iou_agreement": 0.80, "ocr_accuracy": 0.97}
    comparison = compare_releases(_release("v1", BASE), _release("v2", new), {"*": 0.05})
    assert set(comparison.metrics) == set(BASE)
    assert comparison.metrics["iou_agreement"].delta == pytest.approx(-0.10)
    assert comparison.metrics["ocr_accuracy"].delta == pytest.approx(0.02)
    assert comparison.metrics["action_completeness"].delta == 0.0
    assert [change.name for change in comparison.regressions] == ["iou_agreement"]
    assert comparison.improvements == []


def test_tolerance_by_full_name_then_metric_name_then_star() -> None:
    old = {"caption": {"bertscore_f1": 0.9}, "vqa": {"bertscore_f1": 0.9}, "iou_agreement": 0.9}
    new = {"caption": {"bertscore_f1": 0.85}, "vqa": {"bertscore_f1": 0.85}, "iou_agreement": 0.85}
    tolerance = {"caption.bertscore_f1": 0.1, "bertscore_f1": 0.01, "*": 0.2}
    comparison = compare_releases(_release("v1", old), _release("v2", new), tolerance)
    assert {name: change.tolerance for name, change in comparison.metrics.items()} == {
        "caption.bertscore_f1": 0.1,
        "vqa.bertscore_f1": 0.01,
        "iou_agreement": 0.2,
    }
    assert [change.name for change in comparison.regressions] == ["vqa.bertscore_f1"]


def test_no_previous_release_is_no_regression() -> None:
    comparison = compare_releases(None, _release("v1", BASE | {"bertscore_f1": 0.1}), {})
    assert comparison.previous_version is None
    assert comparison.regressions == [] and comparison.improvements == []
    assert comparison.metrics["bertscore_f1"].old is None
    assert comparison.metrics["bertscore_f1"].delta is None
    assert comparison.counts_by_task_type["caption"].old is None
    assert "first release" in comparison.summary()
    assert "bertscore_f1 0.1000" in comparison.summary()


def test_a_metric_measured_on_one_side_only_is_not_a_regression() -> None:
    comparison = compare_releases(
        _release("v1", {"ocr_accuracy": 0.9}), _release("v2", {"ocr_accuracy": None, "iou_agreement": math.nan}), {}
    )
    assert comparison.regressions == []
    assert comparison.metrics["ocr_accuracy"].delta is None
    assert comparison.metrics["iou_agreement"].new is None  # NaN (nothing measured) reads as None
    assert "ocr_accuracy 0.9000 -> n/a" in comparison.summary()


def test_counts_per_task_type_and_synthetic_share() -> None:
    old = _release("v1", BASE, {"caption": 10, "grounding": 5}, synthetic=3)
    new = _release("v2", BASE, {"caption": 12, "ocr": 4}, synthetic_share=0.25)
    comparison = compare_releases(old, new, {})
    counts = {task: (change.old, change.new, change.delta) for task, change in comparison.counts_by_task_type.items()}
    assert counts == {"caption": (10, 12, 2), "grounding": (5, None, None), "ocr": (None, 4, None)}
    assert comparison.synthetic_share == (pytest.approx(0.2), 0.25)
    assert "synthetic share 20.0% -> 25.0%" in comparison.summary()


def test_synthetic_share_is_none_when_the_release_does_not_say() -> None:
    assert synthetic_share(_release("v1", BASE)) is None
    assert synthetic_share(_release("v1", BASE, {}, synthetic=0)) == 0.0


def test_summary_names_metric_old_and_new_values() -> None:
    comparison = compare_releases(
        _release("aaa111", BASE), _release("bbb222", BASE | {"bertscore_f1": 0.81, "ocr_accuracy": 0.99}), {"*": 0.02}
    )
    text = comparison.summary()
    first, *rest = text.splitlines()
    assert first == "demo bbb222 vs aaa111: 1 regression(s)."
    assert rest[0] == "  REGRESSION bertscore_f1 0.8800 -> 0.8100 (-0.0700, tolerance 0.0200)"
    assert rest[1] == "  improved   ocr_accuracy 0.9500 -> 0.9900 (+0.0400, tolerance 0.0200)"
    assert "ok         iou_agreement 0.9000 -> 0.9000" in text


def test_summary_without_regression_says_so() -> None:
    text = compare_releases(_release("v1", BASE), _release("v2", BASE), {}).summary()
    assert text.splitlines()[0] == "demo v2 vs v1: no regression."
    assert "bertscore_f1 0.8800 -> 0.8800" in text


def test_to_dict_is_json_and_lists_regressions() -> None:
    comparison = compare_releases(_release("v1", BASE), _release("v2", BASE | {"iou_agreement": 0.5}), {})
    payload = json.loads(json.dumps(comparison.to_dict()))
    assert payload["regressions"] == ["iou_agreement"]
    assert payload["metrics"]["iou_agreement"] | {"delta": pytest.approx(-0.4)} == {
        "name": "iou_agreement",
        "old": 0.9,
        "new": 0.5,
        "tolerance": 0.0,
        "delta": pytest.approx(-0.4),
        "regressed": True,
        "improved": False,
    }
    assert payload["summary"] == comparison.summary()


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="bertscore_f1"):
        compare_releases(None, _release("v1", BASE), {"bertscore_f1": -0.1})


def test_inputs_are_not_mutated() -> None:
    old, new = _release("v1", BASE), _release("v2", BASE | {"iou_agreement": 0.1})
    before = (repr(old), repr(new))
    compare_releases(old, new, {"*": 0.01})
    assert (repr(old), repr(new)) == before
    assert release_metrics(new)["iou_agreement"] == 0.1
