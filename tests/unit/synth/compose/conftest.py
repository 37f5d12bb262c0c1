"""Real annotated samples to compose from: the YOLO bus photos (labelled boxes) and LLaMA-Factory's mllm_demo (EN and ZH QA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.config import Recipe
from vlforge.ingest import ingest_source
from vlforge.records import Sample
from vlforge.store import ImageStore

YOLO = "label_studio_converter/tests/data/test_import_yolo_data_unif_dims"


@pytest.fixture
def bus_photos(fixtures_dir: Path, recipe: Recipe, store: ImageStore) -> dict[str, Sample]:
    """The five YOLO photos by file stem (img_1 ... img_5); their boxes, counted by hand from labels/*.txt:
    img_1 to img_4: one bus, one number, two closed doors each; img_5: two buses and one closed door."""
    result = ingest_source(str(fixtures_dir / YOLO), "yolo", store, recipe)
    assert not result.rejections
    return {Path(sample.source.record_id).stem: sample for sample in result.samples}


@pytest.fixture
def mllm_demo(fixtures_dir: Path, recipe: Recipe, store: ImageStore) -> list[Sample]:
    result = ingest_source(str(fixtures_dir / "llamafactory/data/mllm_demo.json"), "llamafactory", store, recipe)
    assert not result.rejections
    return result.samples
