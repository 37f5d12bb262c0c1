"""Evaluation rows in the catalog: keyed by release, evaluator, model, metric and subset; re-recorded, replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.catalog import open_catalog
from vlforge.evaluate.regression import compare_evaluations
from vlforge.evaluate.results import EvaluationRow


def release(version: str, created_at: str) -> dict[str, object]:
    return {"dataset": "shop", "version": version, "content_hash": version * 4, "created_at": created_at,
            "counts": {"by_task_type": {"ocr": 2}}, "metrics": {}, "gates": []}


def row(metric: str, subset: str, value: float | None) -> dict[str, object]:
    return EvaluationRow("ocr_readability", "tesseract 5.3.0", metric, subset, value, 2, [{"sample_id": "a"}]).to_json()


def test_record_replace_list_and_previous(tmp_path: Path) -> None:
    with open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        with pytest.raises(KeyError, match="shop/v1 is not in the catalog"):
            catalog.record_evaluation("shop", "v1", "run1", [row("ocr_accuracy", "all", 0.9)])
        catalog.record_release(release("v1", "2026-01-01T00:00:00+00:00"))
        catalog.record_release(release("v2", "2026-02-01T00:00:00+00:00"))
        assert catalog.previous_evaluated("shop", "v2") is None
        catalog.record_evaluation("shop", "v1", "run1", [row("ocr_accuracy", "all", 0.9), row("ocr_word_f1", "all", 0.8)])
        catalog.record_evaluation("shop", "v1", "run2", [row("ocr_accuracy", "all", 0.95)])
        stored = catalog.list_evaluations("shop", "v1")
        assert [(r["metric"], r["value"], r["evaluation_run"]) for r in stored] == [("ocr_accuracy", 0.95, "run2")]
        assert stored[0]["examples"] == [{"sample_id": "a"}]
        assert catalog.previous_evaluated("shop", "v2") == "v1"
        assert catalog.previous_evaluated("shop", "v1") is None
        assert catalog.get_release("shop", "v1")["metrics"] == {}  # the release row is untouched


def test_the_same_model_across_releases_regresses_beyond_tolerance() -> None:
    old = [row("ocr_accuracy", "all", 0.90), row("ocr_word_f1", "all", 0.80)]
    new = [row("ocr_accuracy", "all", 0.89), row("ocr_word_f1", "all", 0.60)]
    comparison = compare_evaluations("shop", ("v1", old), ("v2", new), {"*": 0.05})
    assert [change.name for change in comparison.regressions] == ["ocr_readability/tesseract 5.3.0/all.ocr_word_f1"]
    assert "1 regression(s)" in comparison.summary()
    assert not compare_evaluations("shop", None, ("v2", new), {"*": 0.05}).has_regressions
