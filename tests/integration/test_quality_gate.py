"""The quality gate on real photographs: the demo's rounds agree and release; injected disagreement is stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vlforge.config import Recipe
from vlforge.curate.stage import run_curate
from vlforge.gates import GateFailed
from vlforge.ingest import run_ingest
from vlforge.ingest.gate import run_ingest_gate
from vlforge.prepare import prepare_run
from vlforge.quality.gate import run_quality_gate
from vlforge.quality.stage import run_agreement
from vlforge.release import publish_release
from vlforge.run import RunDescription


def _measure(export: Path, recipe: Recipe, home: Path, dataset: str) -> RunDescription:
    run = prepare_run(home, dataset, "run1", recipe, source=str(export))
    run_ingest(run)
    run_ingest_gate(run)
    run_agreement(run)
    return run


def test_agreeing_rounds_pass_the_gate_and_release(demo_export: Path, recipe: Recipe, tmp_path: Path) -> None:
    run = _measure(demo_export, recipe, tmp_path / "home", "clean")
    gate = run_quality_gate(run)
    assert gate["passed"] and gate["failed"] == []
    run_curate(run)
    published = publish_release(run)
    release = json.loads((Path(published["path"]) / "RELEASE.json").read_text())
    assert [gate["name"] for gate in release["gates"]] == ["ingest", "quality"]


def test_injected_disagreement_fails_the_gate_naming_each_metric(
    disagreeing_demo_export: Path, recipe: Recipe, tmp_path: Path
) -> None:
    run = _measure(disagreeing_demo_export, recipe, tmp_path / "home", "disagreeing")
    agreement = pd.read_parquet(run.run_dir.agreement)
    compared = agreement[agreement["rounds_compared"] == 2]
    assert (compared["status"] == "review").all()

    with pytest.raises(GateFailed) as failure:
        run_quality_gate(run)
    message = str(failure.value)
    for task_type, metric in (("grounding", "iou_agreement"), ("ocr", "ocr_accuracy")):
        mean = compared.loc[compared["task_type"] == task_type, metric].mean()
        assert mean < getattr(recipe.quality.dataset, metric)
        assert f"{metric}" in message and f"threshold {getattr(recipe.quality.dataset, metric)}" in message
    assert "agreement_grounding" in message and "agreement_ocr" in message

    with pytest.raises(RuntimeError, match="gates not passed"):
        publish_release(run)
    assert not (tmp_path / "home" / "releases" / "disagreeing").exists()
