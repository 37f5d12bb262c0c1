"""One release version on every CPU: the demo released with PyTorch and OpenCV on plain code equals the native run.

The demo's augmented copies and degraded synthetic pages can differ (OpenCV's vector code paths round
pixels differently; ``vlforge.numerics`` names both in ``RELEASE.json``); this test releases the demo
without them: no degraded pages, and phase ``finetune`` (no augmented copies).

``ATEN_CPU_CAPABILITY=default`` makes PyTorch use its plain kernels instead of AVX-512/AVX2, and
``OPENCV_CPU_DISABLE`` turns OpenCV's AVX-512, AVX2, FMA3 and AVX dispatch off, as on an older CPU.
Before metrics were stored at a stated precision the two runs released different versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.recipes import DEMO_CLEAN_PAGES_RECIPE

from vlforge.demo import prepare_demo

PLAIN_CPU = {"ATEN_CPU_CAPABILITY": "default", "OPENCV_CPU_DISABLE": "AVX512_SKX,AVX512_CLX,AVX512_ICL,AVX2,FMA3,AVX"}


def _release(home: Path, extra_env: dict[str, str]) -> Path:
    prepare_demo(home / "demo")
    env = {**os.environ, "VLFORGE_HOME": str(home), "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", **extra_env}
    conf = {"source": str(home / "demo"), "source_format": "label_studio", "dataset": "demo", "recipe": DEMO_CLEAN_PAGES_RECIPE, "phase": "finetune"}
    airflow = Path(sys.executable).with_name("airflow")
    run = subprocess.run(
        [str(airflow), "dags", "test", "vlforge_release", "-c", json.dumps(conf)], env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    version = (home / "releases" / "demo" / "LATEST").read_text().strip()
    return home / "releases" / "demo" / version


@pytest.mark.integration
@pytest.mark.slow
def test_demo_release_version_does_not_depend_on_cpu_vector_instructions(airflow_db: Path, tmp_path: Path) -> None:
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    native_capability = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    plain_capability = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={**os.environ, **PLAIN_CPU}
    ).stdout.strip()
    assert plain_capability == "DEFAULT"
    if native_capability == "DEFAULT":
        pytest.skip("this CPU has no vector instructions PyTorch uses: both runs would be the same run")

    native = _release(tmp_path / "native", {})
    plain = _release(tmp_path / "plain", PLAIN_CPU)

    assert native.name == plain.name, f"{native_capability} released {native.name}, plain code released {plain.name}"
    for name in ("manifest.parquet", "agreement.parquet"):
        assert (native / name).read_bytes() == (plain / name).read_bytes(), name
    native_release, plain_release = (json.loads((folder / "RELEASE.json").read_text()) for folder in (native, plain))
    assert native_release["metrics"] == plain_release["metrics"]
    assert native_release["metrics"]["by_task_type"]["grounding"]["bertscore_f1"] is not None  # BERTScore was computed
    assert native_release["numerics"] == {"metric_decimals": 6, "cpu_dependent_outputs": {}}
    native_images = sorted(path.name for path in (native / "images").iterdir())
    assert native_images == sorted(path.name for path in (plain / "images").iterdir())  # content-addressed: same bytes
    # 6 real, 4 composed and 13 synthetic (2 clean receipts, 2 screens' 11 samples) in train
    assert native_release["counts"]["by_split"] == {"train": 23, "val": 1, "test": 1}
