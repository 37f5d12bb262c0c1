"""vlforge's one benchmark harness: every entry side by side in one run, ``bench/results.json`` and a table.

``make bench`` runs ``python bench/run.py``. Speed goals are ratios measured in the same run on the
same machine (never timed assertions in tests): a shared machine slows every way of doing a thing
alike, so the ratios hold where the absolute figures do not.

An entry is a module ``bench/bench_<name>.py`` listed in ``ENTRIES`` with one function::

    def run(quick: bool) -> dict:
        return {
            "figures": [{"label": "vlforge augment stage, JPEG 95", "value": 412.0, "unit": "images/s"}, ...],
            "aims": [{"label": "JPEG stage / plain loop time", "value": 1.1, "op": "<=", "target": 1.2}, ...],
            "notes": ["96 images from skimage.data, best of 3", ...],   # optional
        }

``quick`` asks for a smaller run (a check that the entry works; its figures are noisier). An entry that
raises is recorded with its error and the others still run. ``results.json`` holds, per entry, what it
returned and its wall time, with the machine (cores, CPU, memory), the versions of Python, vlforge's main
libraries and the commit, the date and the command line.

    python bench/run.py                       # every entry
    python bench/run.py augment bertscore     # some of them
    python bench/run.py --quick               # every entry, small
"""

from __future__ import annotations

import argparse
import importlib
import json
import operator
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ENTRIES = ("augment", "bertscore", "ingest", "end_to_end", "dashboard", "synth", "evaluate_data", "evaluate_model", "celery", "memory")
COMPARISONS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt}  # an aim's "op"
PACKAGES = ("torch", "transformers", "bert-score", "albumentations", "opencv-python-headless", "numpy", "pillow",
            "apache-airflow", "great-expectations", "pyarrow")  # fmt: skip


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, versions, commit and date of this run."""
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) * 1024 for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), None)
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": memory,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit or None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def run_entry(name: str, quick: bool) -> dict[str, Any]:
    """One entry's result, with its wall time; its error and traceback when it raised."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench_{name}")
        result = dict(module.run(quick))
    except Exception as error:  # noqa: BLE001  (an entry's failure is recorded; the other entries still run)
        result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    result["seconds"] = round(time.perf_counter() - started, 1)
    for aim in result.get("aims", []):
        aim["met"] = COMPARISONS[aim["op"]](aim["value"], aim["target"])
    return result


def table(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> str:
    """The terminal (and README) table: every figure, then every aim with met / NOT met."""
    lines = [
        (
            f"vlforge bench, {info['date']}, {info['cores']} cores ({info['cpu']}), load "
            f"{info['load_average_at_start'][0]:.1f} at start, commit {info['commit']}"
        ),
        "",
        "| entry | figure | value | unit |",
        "|---|---|---:|---|",
    ]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | ERROR: {result['error'].splitlines()[0][:200]} | | |")
        lines += [f"| {name} | {f['label']} | {_number(f['value'])} | {f['unit']} |" for f in result.get("figures", [])]
    lines += ["", "| entry | aim | measured | target | |", "|---|---|---:|---:|---|"]
    for name, result in results.items():
        for aim in result.get("aims", []):
            verdict = "met" if aim["met"] else "NOT met"
            lines.append(f"| {name} | {aim['label']} | {_number(aim['value'])} | {aim['op']} {_number(aim['target'])} | {verdict} |")
    notes = [f"- {name}: {note}" for name, result in results.items() for note in result.get("notes", [])]
    return "\n".join(lines + ([""] + notes if notes else []))


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", nargs="*", help=f"entries to run (default: all of {', '.join(ENTRIES)})")
    parser.add_argument("--quick", action="store_true", help="small runs: check that every entry works")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    args = parser.parse_args(argv)
    unknown = [name for name in args.entries if name not in ENTRIES]
    if unknown:
        parser.error(f"unknown entries {unknown}; known: {', '.join(ENTRIES)}")
    sys.path.insert(0, str(BENCH))
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    for name in args.entries or ENTRIES:
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = run_entry(name, args.quick)
        if "error" in results[name]:
            print(results[name]["traceback"], file=sys.stderr)
    report = {"machine": info, "command": [Path(sys.executable).name, *sys.argv], "quick": args.quick, "entries": results}
    temporary = args.out.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    temporary.replace(args.out)
    print(table(results, info))
    print(f"\nwritten: {args.out}")
    return 1 if any("error" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
