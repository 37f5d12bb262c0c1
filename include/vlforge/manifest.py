"""The sample manifest: canonical samples as one Parquet file with a fixed schema.

The schema is declared once here so that every stage writes the same columns in
the same order, which keeps manifests byte-stable for the same samples.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.records import Metrics, Sample
from vlforge.store import atomic_write_bytes

_METRIC_NAMES = [name for name in Metrics.model_fields if name != "rounds_compared"]
_BOX = pa.struct(
    [
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("x2", pa.float64()),
        ("y2", pa.float64()),
        ("label", pa.string()),
        ("image_index", pa.int32()),
    ]
)

SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("task_type", pa.string()),
        (
            "images",
            pa.list_(
                pa.struct(
                    [("sha256", pa.string()), ("width", pa.int32()), ("height", pa.int32()), ("format", pa.string())]
                )
            ),
        ),
        (
            "videos",
            pa.list_(
                pa.struct(
                    [
                        ("sha256", pa.string()),
                        ("width", pa.int32()),
                        ("height", pa.int32()),
                        ("format", pa.string()),
                        ("duration_s", pa.float64()),
                        ("fps", pa.float64()),
                        ("frames", pa.int32()),
                    ]
                )
            ),
        ),
        ("conversations", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("boxes", pa.list_(_BOX)),
        ("ocr_lines", pa.list_(pa.struct([("text", pa.string()), ("box", _BOX), ("language", pa.string())]))),
        (
            "actions",
            pa.list_(
                pa.struct(
                    [("type", pa.string()), ("box", _BOX), ("point", pa.list_(pa.float64())), ("text", pa.string())]
                )
            ),
        ),
        (
            "video_events",
            pa.list_(pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("description", pa.string())])),
        ),
        ("choices", pa.list_(pa.string())),
        ("annotator", pa.string()),
        ("round", pa.int32()),
        ("item_id", pa.string()),
        ("gold", pa.bool_()),
        (
            "metrics",
            pa.struct(
                [(name, pa.float64()) for name in _METRIC_NAMES] + [("rounds_compared", pa.int32())]
            ),
        ),
        ("source", pa.struct([("file", pa.string()), ("record_id", pa.string())])),
        ("lineage", pa.list_(pa.struct([("op", pa.string()), ("params_json", pa.string()), ("seed", pa.int64())]))),
        ("synthetic", pa.bool_()),
    ]
)


def samples_to_table(samples: Iterable[Sample]) -> pa.Table:
    return pa.Table.from_pylist([sample.model_dump(mode="json") for sample in samples], schema=SCHEMA)


def table_to_samples(table: pa.Table) -> list[Sample]:
    return [Sample.model_validate(_drop_nulls(row)) for row in table.to_pylist()]


def _drop_nulls(value: object) -> object:
    """Parquet stores absent optional fields as null; the records want them left out."""
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def write_manifest(samples: Iterable[Sample], path: Path) -> int:
    """Write samples to ``path`` atomically.

    Returns:
        The number of samples written.
    """
    table = samples_to_table(samples)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return table.num_rows


def read_manifest(path: Path) -> list[Sample]:
    return table_to_samples(pq.read_table(path, schema=SCHEMA))
