"""Shard plans are stable and balanced; a merge refuses when a planned shard wrote nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlforge.evaluate.shards import (
    plan_shards,
    read_arrays,
    read_results,
    write_plan,
    write_shard_arrays,
    write_shard_results,
)
from vlforge.layout import EvaluationDir


@pytest.mark.parametrize(
    ("count", "size", "sizes"), [(0, 4, []), (1, 4, [1]), (8, 4, [4, 4]), (9, 4, [3, 3, 3]), (10, 4, [4, 3, 3])]
)
def test_balanced(count: int, size: int, sizes: list[int]) -> None:
    shards = plan_shards("ocr_readability", [f"s{i:02d}" for i in range(count)], size)
    assert [len(shard.sample_ids) for shard in shards] == sizes
    assert [shard.name for shard in shards] == [f"shard-{i:04d}" for i in range(len(sizes))]


def test_stable_whatever_the_order_and_duplicates() -> None:
    ids = [f"s{i:02d}" for i in range(10)]
    assert plan_shards("alignment", ids, 3) == plan_shards("alignment", [*reversed(ids), "s03"], 3)
    assert sorted(i for shard in plan_shards("alignment", ids, 3) for i in shard.sample_ids) == ids


def test_results_round_trip_and_missing_shards_are_named(tmp_path: Path) -> None:
    folder = EvaluationDir(tmp_path / "evaluation")
    shards = plan_shards("alignment", ["a", "b", "c"], 2)
    write_plan(folder, {"alignment": shards})
    write_shard_results(folder, shards[0], [{"sample_id": "a"}, {"sample_id": "b"}])
    write_shard_arrays(folder, shards[0], {"images": np.ones((2, 3))})
    with pytest.raises(FileNotFoundError, match=r"alignment shards \['shard-0001'\] wrote no results"):
        read_results(folder, "alignment")
    write_shard_results(folder, shards[1], [{"sample_id": "c"}])
    write_shard_arrays(folder, shards[1], {"images": np.zeros((1, 3))})
    assert [row["sample_id"] for row in read_results(folder, "alignment")] == ["a", "b", "c"]
    assert read_arrays(folder, "alignment", "images").tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match="no model shard was planned"):
        read_arrays(folder, "model", "images")
