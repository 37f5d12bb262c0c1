"""The sample manifest: canonical samples as one Parquet file with a fixed schema, and its variants.

The schema is declared once here so that every stage writes the same columns in
the same order, which keeps manifests byte-stable for the same samples. Two variants add columns:
a split manifest (curated samples and released samples: ``split``) and an augmented manifest
(copies: ``parent_id``, ``copy_index``, ``split``, ``phase``). Every table is written by
``write_table``: zstd Parquet, atomically.
"""

from __future__ import annotations

import gc
import math
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vlforge.records import Metrics, Sample
from vlforge.store import atomic_open

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
                pa.struct([("sha256", pa.string()), ("width", pa.int32()), ("height", pa.int32()), ("format", pa.string())])
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
            pa.list_(pa.struct([("type", pa.string()), ("box", _BOX), ("point", pa.list_(pa.float64())), ("text", pa.string())])),
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
            pa.struct([(name, pa.float64()) for name in _METRIC_NAMES] + [("rounds_compared", pa.int32())]),
        ),
        ("source", pa.struct([("file", pa.string()), ("record_id", pa.string())])),
        ("lineage", pa.list_(pa.struct([("op", pa.string()), ("params_json", pa.string()), ("seed", pa.int64())]))),
        ("synthetic", pa.bool_()),
    ]
)
# Samples converted, written or read at a time: what a stage holds of a manifest of any size.
BATCH_ROWS = 1024


def samples_to_table(samples: Iterable[Sample]) -> pa.Table:
    return pa.Table.from_pylist([sample.model_dump(mode="json") for sample in samples], schema=SCHEMA)


def table_to_samples(table: pa.Table) -> list[Sample]:
    """The samples of ``table``, converted ``BATCH_ROWS`` rows at a time: a table's rows as dicts would cost more than its samples.

    Python's cyclic garbage collector is off meanwhile. Each sample is a dozen new objects that all stay
    alive, so the collector kept running and each of its full passes walked every sample made so far:
    18,432 augmented copies took 2.0 s to read with it on and 0.7 s with it off. Samples hold no
    reference cycles, so there is nothing for it to find. Its walks over them are only put off until it
    is back on; a caller that keeps the samples a short while can spare them too (``cyclic_gc_off``).
    """
    with cyclic_gc_off():
        return [Sample.model_validate(_drop_nulls(row)) for batch in table.to_batches(BATCH_ROWS) for row in batch.to_pylist()]


@contextmanager
def cyclic_gc_off() -> Iterator[None]:
    """Python's cyclic garbage collector off in the block, back as it was after it.

    Samples read with the collector off are still walked once it is back on: each object made meanwhile is
    in its youngest generation, so the next collections walk them all, and move them to the oldest one,
    where a full collection walks them again. To spare that, a caller that holds many samples only for a
    while keeps the collector off until they are freed (reference counting frees them: they hold no cycles).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drop_nulls(value: object) -> object:
    """Parquet stores absent optional fields as null; the records want them left out."""
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def write_table(table: pa.Table, path: Path) -> int:
    """Write ``table`` to ``path`` as zstd Parquet, atomically; returns its row count."""
    return write_tables([table], table.schema, path)


def write_tables(tables: Iterable[pa.Table], schema: pa.Schema, path: Path) -> int:
    """Write ``tables`` (each of ``schema``) one after the other to ``path`` as one zstd Parquet file, atomically.

    Each table is a row group (or several, past Parquet's row-group size), so only one is in memory at a time.

    Returns:
        The number of rows written.
    """
    rows, written = 0, 0
    with atomic_open(Path(path)) as handle, pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table)
            rows, written = rows + table.num_rows, written + 1
        if not written:  # as pq.write_table writes an empty table: one empty row group
            writer.write_table(schema.empty_table())
    return rows


def write_manifest(samples: Iterable[Sample], path: Path) -> int:
    """Write samples to ``path`` atomically, ``BATCH_ROWS`` at a time.

    Returns:
        The number of samples written.
    """
    return write_tables((samples_to_table(batch) for batch in batches(samples)), SCHEMA, path)


def batches(items: Iterable[Sample]) -> Iterator[list[Sample]]:
    """``items`` in lists of ``BATCH_ROWS`` (the last one shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH_ROWS)):
        yield batch


def read_batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """``columns`` (every column if ``None``) of a Parquet file, ``BATCH_ROWS`` rows at a time, in file order."""
    # Without prefetching or reader threads: they hold more of the file at once the larger it is (30 MB more at 100,000 samples).
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False)


def iter_manifest(path: Path) -> Iterator[Sample]:
    """The samples of any manifest variant, in file order, read ``BATCH_ROWS`` at a time."""
    for batch in read_batches(path, SCHEMA.names):
        yield from table_to_samples(pa.Table.from_batches([batch]))


def read_manifest(path: Path) -> list[Sample]:
    return table_to_samples(pq.read_table(path, schema=SCHEMA))


def read_columns(path: Path, columns: list[str]) -> pa.Table:
    """Some columns of a manifest, read as ``iter_manifest`` reads: the table, not more of the file, is held."""
    file_schema = pq.read_schema(path)
    return pa.Table.from_batches(read_batches(path, columns), pa.schema([file_schema.field(name) for name in columns]))


# Most parts ``iter_key_ranges`` spills a manifest into: each is a file open while the manifest is read.
MAX_KEY_RANGES = 256


def iter_key_ranges(path: Path, keys: pa.Array, part_rows: int, spill_folder: Path) -> Iterator[list[Sample]]:
    """A manifest's samples (any variant) in parts holding every row of a range of keys: parts in key order, rows in file order.

    A part ends at the first new key once it holds ``part_rows`` rows, so it holds at least that many (but the last) and
    at most that many plus the rows of one key; a manifest of more than ``MAX_KEY_RANGES * part_rows`` rows is cut into
    ``MAX_KEY_RANGES`` larger parts. The manifest is read once and its rows spilled, one Arrow IPC file per part, into a
    temporary folder in ``spill_folder``, which is removed when the iteration ends: what is held is one part's samples and
    one part number per row.

    Args:
        path: the manifest.
        keys: one key per row of the manifest, in file order (strings, none missing); keys sort as Python sorts ``str``.
        part_rows: the fewest rows in a part (but the last).
        spill_folder: a folder with room for a copy of the manifest (a run folder; not a RAM-backed ``/tmp``).

    Yields:
        Each part's samples.

    Raises:
        ValueError: when ``keys`` is not one string per row.
    """
    with pq.ParquetFile(path) as parquet:
        rows = parquet.metadata.num_rows
    if len(keys) != rows or keys.null_count:
        raise ValueError(f"{path}: {len(keys)} keys ({keys.null_count} missing) for {rows} rows; one key per row is needed")
    if not rows:
        return
    part_of_row = _key_range_parts(keys, max(part_rows, math.ceil(rows / MAX_KEY_RANGES)))
    with tempfile.TemporaryDirectory(prefix=f".{Path(path).name}.", dir=spill_folder) as spill:
        files = [Path(spill) / f"{part}.arrows" for part in range(int(part_of_row.max()) + 1)]
        with ExitStack() as open_files:
            writers = [open_files.enter_context(pa.ipc.new_stream(str(file), SCHEMA)) for file in files]
            start = 0
            for batch in read_batches(path, SCHEMA.names):
                batch_parts = part_of_row[start : start + batch.num_rows]
                for part in np.unique(batch_parts):
                    writers[part].write_batch(batch.filter(pa.array(batch_parts == part)))
                start += batch.num_rows
        for file in files:
            with pa.ipc.open_stream(str(file)) as reader:
                table = reader.read_all()
            file.unlink()
            yield table_to_samples(table)


def _key_range_parts(keys: pa.Array, part_rows: int) -> np.ndarray:
    """The part of each row (``iter_key_ranges``): parts are runs of sorted keys cut at the first new key after ``part_rows``."""
    order = pc.sort_indices(keys).to_numpy()  # stable: rows of a key keep their file order
    ordered = keys.take(order)
    new_key = np.flatnonzero(pc.not_equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)) + 1
    bounds = [0]
    while bounds[-1] < len(order):
        after = np.searchsorted(new_key, bounds[-1] + part_rows)
        bounds.append(int(new_key[after]) if after < len(new_key) else len(order))
    part_of_row = np.empty(len(order), dtype=np.int32)
    part_of_row[order] = np.repeat(np.arange(len(bounds) - 1, dtype=np.int32), np.diff(bounds))
    return part_of_row


SPLIT_COLUMN = "split"
SPLIT_SCHEMA = SCHEMA.append(pa.field(SPLIT_COLUMN, pa.string()))


def write_split_manifest(samples: Iterable[Sample], splits: list[str], path: Path) -> int:
    """Samples as a manifest with a ``split`` column, atomically, ``BATCH_ROWS`` at a time; returns the row count.

    Raises:
        ValueError: when ``splits`` does not give one split per sample (nothing is written).
    """

    def rows() -> Iterator[tuple[Sample, str]]:
        count = 0
        for count, sample in enumerate(samples, start=1):
            if count <= len(splits):
                yield sample, splits[count - 1]
        if count != len(splits):
            raise ValueError(f"{path}: {len(splits)} splits for {count} samples; a split manifest needs one split per sample")

    return write_split_rows(rows(), path)


def write_split_rows(rows: Iterable[tuple[Sample, str]], path: Path) -> int:
    """``(sample, split)`` rows as a split manifest, atomically, holding one batch of ``BATCH_ROWS`` at a time.

    Returns:
        The number of rows written.
    """

    def tables() -> Iterator[pa.Table]:
        iterator = iter(rows)
        while batch := list(islice(iterator, BATCH_ROWS)):
            split_column = pa.array([split for _, split in batch], type=pa.string())
            yield samples_to_table(sample for sample, _ in batch).append_column(SPLIT_COLUMN, split_column)

    return write_tables(tables(), SPLIT_SCHEMA, path)


def read_split_manifest(path: Path) -> tuple[list[Sample], list[str]]:
    """A split manifest (``write_split_manifest``): the samples and each one's split, in file order."""
    table = pq.read_table(path)
    splits = [str(split) for split in table.column(SPLIT_COLUMN).to_pylist()]
    return table_to_samples(table.select(SCHEMA.names)), splits


def iter_split_manifest(path: Path) -> Iterator[tuple[Sample, str]]:
    """The samples of a split manifest (or any manifest with a ``split`` column) with their splits, in file order, ``BATCH_ROWS`` at a time."""
    for batch in read_batches(path, [*SCHEMA.names, SPLIT_COLUMN]):
        table = pa.Table.from_batches([batch])
        splits = [str(value) for value in table.column(SPLIT_COLUMN).to_pylist()]
        yield from zip(table_to_samples(table.select(SCHEMA.names)), splits, strict=True)


def read_split_ids(path: Path) -> tuple[list[str], list[str]]:
    """The sample ids and splits of a split manifest, without reading the samples."""
    table = pq.read_table(path, columns=["sample_id", SPLIT_COLUMN])
    return [str(value) for value in table.column("sample_id").to_pylist()], [
        str(value) for value in table.column(SPLIT_COLUMN).to_pylist()
    ]


def read_samples_by_id(path: Path, ids: list[str]) -> list[Sample]:
    """The samples of any manifest variant whose ids are in ``ids``, sorted by id."""
    wanted = pa.array(ids, type=pa.string())
    found: list[Sample] = []
    for batch in read_batches(path, SCHEMA.names):  # only the wanted rows are kept
        found += table_to_samples(pa.Table.from_batches([batch.filter(pc.is_in(batch.column("sample_id"), value_set=wanted))]))
    return sorted(found, key=lambda sample: sample.sample_id)


def find_sample(paths: list[Path], sample_id: str) -> Sample | None:
    """Sample ``sample_id`` from the first manifest (of any variant) among ``paths`` that holds it."""
    for path in paths:
        if not path.is_file() or not set(SCHEMA.names) <= set(pq.read_schema(path).names):
            continue
        table = pq.read_table(path, columns=SCHEMA.names, filters=[("sample_id", "=", sample_id)])
        if table.num_rows:
            return table_to_samples(table.slice(0, 1))[0]
    return None


AUGMENTED_COLUMNS = pa.schema(
    [("parent_id", pa.string()), ("copy_index", pa.int32()), (SPLIT_COLUMN, pa.string()), ("phase", pa.string())]
)
AUGMENTED_SCHEMA = pa.schema(list(SCHEMA) + list(AUGMENTED_COLUMNS))


@dataclass(frozen=True)
class AugmentedCopy:
    """One augmented copy with where it came from: its parent's id and which of the parent's copies it is."""

    sample: Sample
    parent_id: str
    copy_index: int


def write_augmented(copies: list[AugmentedCopy], split: str, phase: str, path: Path) -> int:
    """Augmented copies as an augmented manifest, atomically; returns the row count."""
    table = samples_to_table(copy.sample for copy in copies)
    columns = {
        "parent_id": [copy.parent_id for copy in copies],
        "copy_index": [copy.copy_index for copy in copies],
        SPLIT_COLUMN: [split] * len(copies),
        "phase": [phase] * len(copies),
    }
    for column in AUGMENTED_COLUMNS:
        table = table.append_column(column, pa.array(columns[column.name], type=column.type))
    return write_table(table, path)


def read_augmented(path: Path) -> list[Sample]:
    """The samples of an augmented manifest (its extra columns left out)."""
    return table_to_samples(pq.read_table(path, columns=SCHEMA.names))
