"""A small release with one test sample per task type (a video one included), exported in the three Qwen formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.eval_release import build_release

from vlforge.config import load_recipe
from vlforge.layout import ReleaseDir
from vlforge.records import Sample

VIDEO = "llamafactory/data/mllm_demo_data/4.mp4"  # 224x224, 30 fps, 5.0 s


@pytest.fixture(scope="session")
def evaluation_release(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> tuple[ReleaseDir, list[Sample]]:
    return build_release(tmp_path_factory.mktemp("evaluation"), load_recipe("default"), fixtures_dir / VIDEO)
