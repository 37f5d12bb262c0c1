"""Flat tables of a manifest's facts, one row per thing a gate checks (pandas frames for GX).

Gates, reports and dashboards read these same tables, so they agree on every number.
"""

from __future__ import annotations

import pandas as pd

from vlforge.records import Box, Sample
from vlforge.store import ImageStore

BOX_COLUMNS = ["sample_id", "kind", "label", "x1", "y1", "x2", "y2", "image_width", "image_height"]


def samples_table(samples: list[Sample]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [sample.sample_id for sample in samples],
            "task_type": [sample.task_type for sample in samples],
            "images": [len(sample.images) for sample in samples],
            "round": [sample.round for sample in samples],
        }
    )


def images_table(samples: list[Sample], store: ImageStore) -> pd.DataFrame:
    """One row per image of each sample, with the size of its file in the store (0 when missing)."""
    rows = []
    for sample in samples:
        for image in sample.images:
            path = store.path_for(image.sha256, image.format)
            rows.append((sample.sample_id, image.sha256, path.stat().st_size if path.is_file() else 0))
    return pd.DataFrame(rows, columns=["sample_id", "sha256", "stored_bytes"])


def boxes_table(samples: list[Sample]) -> pd.DataFrame:
    """Every box: object boxes, OCR line boxes and GUI action targets, with the size of the image they lie on."""
    rows = []
    for sample in samples:
        located: list[tuple[str, Box]] = [("object", box) for box in sample.boxes]
        located += [("ocr_line", line.box) for line in sample.ocr_lines if line.box]
        located += [("action_target", action.box) for action in sample.actions if action.box]
        for kind, box in located:
            image = sample.images[box.image_index]
            rows.append((sample.sample_id, kind, box.label, box.x1, box.y1, box.x2, box.y2, image.width, image.height))
    return pd.DataFrame(rows, columns=BOX_COLUMNS).astype(
        {name: "float64" for name in ["x1", "y1", "x2", "y2", "image_width", "image_height"]}
    )


def ocr_lines_table(samples: list[Sample]) -> pd.DataFrame:
    rows = [(sample.sample_id, line.text.strip(), line.language) for sample in samples for line in sample.ocr_lines]
    return pd.DataFrame(rows, columns=["sample_id", "text", "language"])


def ingest_stats_table(stats: dict[str, float | int]) -> pd.DataFrame:
    return pd.DataFrame([{key: stats[key] for key in ("rows_in", "rows_ok", "rows_quarantined", "quarantine_share")}])
