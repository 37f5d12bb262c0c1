"""A manifest read in key ranges: every row of a key in one part, parts in key order, rows in file order, the spill removed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pytest

from vlforge import manifest
from vlforge.manifest import iter_key_ranges, read_columns, write_manifest
from vlforge.records import ImageRef, Sample, Source

IMAGE = ImageRef(sha256="c" * 64, width=10, height=10, format="png")
KEYS = ["b", "a", "c", "a", "d", "b", "b", "e", "a", "c", "f", "é", "B"]


def _manifest(tmp_path: Path) -> Path:
    samples = [
        Sample(
            sample_id=f"{index:02d}",
            item_id=key,
            task_type="caption",
            images=(IMAGE,),
            source=Source(file="f", record_id=str(index)),
        )
        for index, key in enumerate(KEYS)
    ]
    path = tmp_path / "ingested.parquet"
    write_manifest(samples, path)
    return path


def _parts(path: Path, part_rows: int, spill: Path) -> list[list[tuple[str, str]]]:
    keys = read_columns(path, ["item_id"]).column("item_id").combine_chunks()
    return [[(sample.item_id, sample.sample_id) for sample in part] for part in iter_key_ranges(path, keys, part_rows, spill)]


@pytest.mark.parametrize(
    ("part_rows", "expected_sizes"),
    [(1, [1, 3, 3, 2, 1, 1, 1, 1]), (3, [4, 3, 3, 3]), (4, [4, 5, 4]), (100, [13])],
)
def test_parts_hold_whole_keys_in_key_order_and_rows_in_file_order(
    part_rows: int, expected_sizes: list[int], tmp_path: Path
) -> None:
    path = _manifest(tmp_path)
    parts = _parts(path, part_rows, tmp_path)
    assert [len(part) for part in parts] == expected_sizes
    assert sorted(row for part in parts for row in part) == sorted((key, f"{index:02d}") for index, key in enumerate(KEYS))
    for part in parts:
        assert [sample_id for _, sample_id in part] == sorted(sample_id for _, sample_id in part)  # file order
    for part, following in itertools.pairwise(parts):
        # Python's string order (code points: "B" < "a" < "é"): every key of a part before every key of the next.
        assert max(key for key, _ in part) < min(key for key, _ in following)
    assert sorted(item.name for item in tmp_path.iterdir()) == ["ingested.parquet"]  # the spill folder is gone


def test_a_large_manifest_is_cut_into_at_most_max_key_ranges_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest, "MAX_KEY_RANGES", 2)
    path = _manifest(tmp_path)
    assert [len(part) for part in _parts(path, 1, tmp_path)] == [7, 6]  # parts of at least ceil(13 / 2) rows


def test_keys_must_be_one_per_row(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    with pytest.raises(ValueError, match=r"ingested.parquet: 2 keys \(0 missing\) for 13 rows"):
        next(iter_key_ranges(path, pa.array(["a", "b"]), 4, tmp_path))
    with pytest.raises(ValueError, match=r"13 keys \(1 missing\) for 13 rows"):
        next(iter_key_ranges(path, pa.array([*KEYS[:-1], None]), 4, tmp_path))
