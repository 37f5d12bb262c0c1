"""The synth gate passes clean tables and fails, naming the expectation, on each planted fault."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vlforge.gates import GateFailed, run_gate
from vlforge.layout import RunDir
from vlforge.records import Box, GuiAction, ImageRef, OcrLine, Sample, Source
from vlforge.synth.config import SynthConfig
from vlforge.synth.stage import CHECK_COLUMNS

pytestmark = pytest.mark.slow  # each test builds a GX context and validates (about 2 s)
from vlforge.synth.gate import synth_suites, synth_tables

PAGE = ImageRef(sha256="a" * 64, width=100, height=50, format="png")
SCREEN = ImageRef(sha256="b" * 64, width=1080, height=2400, format="png")


def _samples() -> list[Sample]:
    return [
        Sample(sample_id="p1", task_type="ocr", images=(PAGE,), source=Source(file="synth/documents/sign", record_id="7/clean"),
               ocr_lines=(OcrLine(text="EXIT", box=Box(x1=10, y1=10, x2=60, y2=30)),), synthetic=True),
        Sample(sample_id="p2", task_type="ocr", images=(PAGE.model_copy(update={"sha256": "c" * 64}),),
               source=Source(file="synth/documents/sign", record_id="7/degraded/0/0"), synthetic=True),
        Sample(sample_id="g1", task_type="gui_action", images=(SCREEN,), source=Source(file="synth/gui/login", record_id="9/action/0"),
               actions=(GuiAction(type="click", box=Box(x1=100, y1=200, x2=300, y2=260), point=(200, 230)),), synthetic=True),
    ]


def _checks() -> pd.DataFrame:
    rows = [
        {"sample_id": "p1", "kind": "documents", "template": "sign", "language": "en", "check": "clean",
         "glyphs_ok": True, "words_ok": True, "accuracy": 0.99, "targets": None, "verified": None, "reason": ""},
        {"sample_id": "p2", "kind": "documents", "template": "sign", "language": "en", "check": "degraded",
         "glyphs_ok": True, "words_ok": True, "accuracy": 0.6, "targets": None, "verified": None, "reason": ""},
        {"sample_id": "g1", "kind": "gui", "template": "login", "language": "en", "check": "gui_action",
         "glyphs_ok": None, "words_ok": None, "accuracy": None, "targets": 5, "verified": True, "reason": ""},
    ]
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def test_clean_tables_pass(tmp_path: Path) -> None:
    result = run_gate("synth", synth_tables(_samples(), _checks()), synth_suites(SynthConfig()), RunDir(tmp_path))
    assert result.passed and result.evaluated == 13  # 2 + 6 box checks + 2 + 1 + 1 + 1


@pytest.mark.parametrize(
    ("samples_change", "check_change", "failed"),
    [
        (None, {("p1", "glyphs_ok"): False}, "expect_glyphs_covered"),
        (None, {("p1", "words_ok"): False}, "expect_words_whole"),
        (None, {("p2", "accuracy"): 0.99}, "expect_difficulty_in_range"),
        (None, {("g1", "verified"): False}, "expect_actions_verified"),
        ("duplicate", {}, "expect_no_duplicate_renders"),
        ("outside", {}, "expect_box_right_edge_inside_image"),
    ],
)
def test_each_planted_fault_fails_the_gate(tmp_path: Path, samples_change, check_change, failed) -> None:
    samples = _samples()
    if samples_change == "duplicate":  # another seed rendered the very same image
        samples.append(samples[0].model_copy(update={"sample_id": "p3", "source": Source(file="synth/documents/sign", record_id="8/clean")}))
    if samples_change == "outside":
        samples[2] = samples[2].model_copy(update={"actions": (GuiAction(type="click", box=Box(x1=1000, y1=200, x2=1100, y2=260)),)})
    checks = _checks()
    for (sample_id, column), value in check_change.items():
        checks.loc[checks["sample_id"] == sample_id, column] = value
    with pytest.raises(GateFailed) as raised:
        run_gate("synth", synth_tables(samples, checks), synth_suites(SynthConfig()), RunDir(tmp_path))
    assert raised.value.result.failed == [failed]
