"""The quality gate on real photographs: the demo's rounds agree and release; injected disagreement is stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vlforge.config import Recipe
from vlforge.ingest import run_ingest
from vlforge.layout import AGREEMENT
from vlforge.quality.gates import GateFailed, run_ingest_gate, run_quality_gate
from vlforge.quality.stage import run_agreement
from vlforge.release import publish_release
from vlforge.store import ImageStore


def _measure(export: Path, recipe: Recipe, root: Path) -> tuple[Path, Path]:
    stage, store = root / "stage", root / "store"
    run_ingest(str(export), "label_studio", recipe, store, stage)
    run_ingest_gate(stage, store, recipe)
    run_agreement(stage, recipe)
    return stage, store


def test_agreeing_rounds_pass_the_gate_and_release(demo_export: Path, recipe: Recipe, tmp_path: Path) -> None:
    stage, store = _measure(demo_export, recipe, tmp_path)
    gate = run_quality_gate(stage, recipe)
    assert gate["passed"] and gate["failed"] == []
    published = publish_release(stage, tmp_path / "home", "clean", recipe, 0, ImageStore(store), {})
    release = json.loads((Path(published["path"]) / "RELEASE.json").read_text())
    assert [gate["name"] for gate in release["gates"]] == ["ingest", "quality"]


def test_injected_disagreement_fails_the_gate_naming_each_metric(
    disagreeing_demo_export: Path, recipe: Recipe, tmp_path: Path
) -> None:
    stage, store = _measure(disagreeing_demo_export, recipe, tmp_path)
    agreement = pd.read_parquet(stage / AGREEMENT)
    compared = agreement[agreement["rounds_compared"] == 2]
    assert (compared["status"] == "review").all()

    with pytest.raises(GateFailed) as failure:
        run_quality_gate(stage, recipe)
    message = str(failure.value)
    for task_type, metric in (("grounding", "iou_agreement"), ("ocr", "ocr_accuracy")):
        mean = compared.loc[compared["task_type"] == task_type, metric].mean()
        assert mean < getattr(recipe.quality.dataset, metric)
        assert f"{metric}" in message and f"threshold {getattr(recipe.quality.dataset, metric)}" in message
    assert "agreement_grounding" in message and "agreement_ocr" in message

    with pytest.raises(RuntimeError, match="gates not passed"):
        publish_release(stage, tmp_path / "home", "disagreeing", recipe, 0, ImageStore(store), {})
    assert not (tmp_path / "home" / "releases" / "disagreeing").exists()
