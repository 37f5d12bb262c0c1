"""The gate engine: one gate at a time in a run folder's GX project, and Data Docs that keep every gate's pages."""

from __future__ import annotations

import threading
from pathlib import Path

import great_expectations as gx
import pandas as pd

from vlforge.gates import _gx_project_lock, run_gate
from vlforge.layout import RunDir


def _suites(gate: str) -> dict[str, gx.ExpectationSuite]:
    return {
        "rows": gx.ExpectationSuite(name=f"{gate}.rows", expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="x")])
    }


def _tables() -> dict[str, pd.DataFrame]:
    return {"rows": pd.DataFrame({"x": [1, 2, 3]})}


def test_a_gate_waits_while_another_holds_the_gx_project(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    finished = threading.Event()

    def gate() -> None:
        run_gate("second", _tables(), _suites("second"), run_dir)
        finished.set()

    with _gx_project_lock(run_dir):
        waiting = threading.Thread(target=gate)
        waiting.start()
        assert not finished.wait(timeout=2.0)
        assert not run_dir.gate_summary("second").exists()
    waiting.join(timeout=120)
    assert finished.is_set()
    assert run_dir.gate_summary("second").is_file()


def test_a_later_gate_keeps_the_earlier_gates_pages_in_the_data_docs(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    run_gate("first", _tables(), _suites("first"), run_dir)
    first_pages = sorted(path.relative_to(run_dir.data_docs) for path in run_dir.data_docs.rglob("*.html"))
    run_gate("second", _tables(), _suites("second"), run_dir)
    pages = sorted(path.relative_to(run_dir.data_docs) for path in run_dir.data_docs.rglob("*.html"))
    assert set(first_pages) < set(pages)
    assert any("validations/first/rows" in str(page) for page in pages)
    assert any("validations/second/rows" in str(page) for page in pages)
    index = (run_dir.data_docs / "index.html").read_text(encoding="utf-8")
    assert "first/rows" in index and "second/rows" in index
