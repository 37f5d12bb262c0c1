"""The augment gate: a 1000+ copy run passes with every op's share within 5 points; corrupted copies fail it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from augment_stage_data import augment_all, augment_run, make_curated, with_augment

from vlforge.augment.gate import MIN_COPIES_FOR_SHARES, augment_suites, augment_tables, run_augment_gate
from vlforge.augment.lineage import applied_ops
from vlforge.config import load_recipe
from vlforge.gates import GateFailed
from vlforge.manifest import AUGMENTED_SCHEMA, read_augmented, read_split_manifest, table_to_samples
from vlforge.records import Sample
from vlforge.run import RunDescription


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> RunDescription:
    """320 train samples x 4 copies of 64x64 images: over 1000 copies even of the non-OCR ones (flips), in 4 shards."""
    run = augment_run(
        tmp_path_factory.mktemp("augment_gate"), with_augment(load_recipe("default"), copies_per_sample=4), seed=2024, shard_size=100
    )
    make_curated(run, train=320)
    augment_all(run)
    return run


@pytest.mark.slow
def test_op_shares_within_five_points_and_gate_passes(big_run: RunDescription) -> None:
    stats = json.loads(big_run.run_dir.augment_stats.read_text())
    assert (stats["augmented"], stats["dropped"]) == (320 * 4, 0)
    checked = {name: entry for name, entry in stats["ops"].items() if entry["eligible"] >= MIN_COPIES_FOR_SHARES}
    # every op but ocr_degradation, which only OCR copies (1 in 5) are eligible for; flips skip OCR copies
    assert len(checked) == 9 and checked["horizontal_flip"]["eligible"] == 1280 - 256
    for name, entry in checked.items():
        assert abs(entry["share"] - entry["probability"]) <= 0.05, (name, entry)
    ocr = stats["ops"]["ocr_degradation"]
    assert (ocr["eligible"], ocr["applied"]) == (256, 123)

    result = run_augment_gate(big_run)
    assert result["passed"] and result["failed"] == []
    gx_result = json.loads(Path(result["result_path"]).read_text())
    types = [item["expectation_config"]["type"] for item in gx_result["op_shares"]["results"]]
    assert types == ["expect_op_applied_share_near_probability"] * 9
    assert set(gx_result) == {"boxes", "copies", "op_shares", "paraphrases"}


@pytest.mark.slow
def test_share_expectations_need_1000_eligible_copies(tmp_path: Path) -> None:
    run = augment_run(tmp_path, seed=1, shard_size=30)
    make_curated(run, train=30)
    augment_all(run)
    copies = pq.read_table(run.run_dir.augmented).num_rows
    assert copies == 30 < MIN_COPIES_FOR_SHARES
    parents = {s.sample_id: s for s in read_split_manifest(run.run_dir.curated)[0]}

    specs = run.recipe.augment.phase_specs("main")
    tables = augment_tables(read_augmented(run.run_dir.augmented), parents, specs)
    suites = augment_suites(run.recipe, tables, specs)
    assert set(suites) == {"boxes", "copies", "paraphrases"}  # no op_shares
    assert run_augment_gate(run)["passed"]


def _rows(run: RunDescription) -> list[dict]:
    return pq.read_table(run.run_dir.augmented).to_pylist()


@pytest.mark.slow
def test_corrupted_copies_fail_the_gate(big_run: RunDescription, tmp_path: Path) -> None:
    run = replace(big_run, home=tmp_path)  # a copy of the big run's folder, without its gate results
    shutil.copytree(big_run.run_dir.path, run.run_dir.path, ignore=shutil.ignore_patterns("gx", "gx_results", "gates"))
    rows = _rows(run)
    parents = {s.sample_id: s for s in read_split_manifest(run.run_dir.curated)[0]}
    samples = table_to_samples(pa.Table.from_pylist(rows, schema=AUGMENTED_SCHEMA).select(list(range(len(AUGMENTED_SCHEMA) - 4))))
    flipped = next(
        i for i, s in enumerate(samples)
        if s.task_type == "grounding" and [e.op for e in applied_ops(s)].count("horizontal_flip") == 1
        and not any(e.op == "paraphrase" for e in s.lineage)
    )  # fmt: skip
    with_box = next(i for i, s in enumerate(samples) if s.boxes and i != flipped)
    paraphrased = next(i for i, s in enumerate(samples) if any(e.op == "paraphrase" for e in s.lineage) and i not in (flipped, with_box))
    assert "right" in rows[flipped]["conversations"][1]["content"]
    # a flipped copy whose answer still says what the unflipped parent said
    rows[flipped]["conversations"][1]["content"] = parents[rows[flipped]["parent_id"]].conversations[1].content
    # a box pushed past the right edge
    rows[with_box]["boxes"][0]["x2"] = rows[with_box]["images"][0]["width"] + 10.0
    # a paraphrase that scored under the threshold
    entry = next(e for e in rows[paraphrased]["lineage"] if e["op"] == "paraphrase")
    params = json.loads(entry["params_json"])
    params["turns"][0]["f1"] = 0.5
    entry["params_json"] = json.dumps(params)
    pq.write_table(pa.Table.from_pylist(rows, schema=AUGMENTED_SCHEMA), run.run_dir.augmented)

    with pytest.raises(GateFailed) as failed:
        run_augment_gate(run)
    message = str(failed.value)
    for expectation in ("expect_box_right_edge_inside_image", "expect_side_words_match_flips", "expect_paraphrase_bertscore_at_least"):
        assert expectation in message
    assert rows[flipped]["sample_id"] in message and "expected ['right'], found ['left']" in message
    assert sorted(failed.value.result.failed) == [
        "expect_box_right_edge_inside_image", "expect_paraphrase_bertscore_at_least", "expect_side_words_match_flips"
    ]


def test_empty_conversation_fails_the_gate(tmp_path: Path) -> None:
    run = augment_run(tmp_path, seed=1, shard_size=6)
    make_curated(run, train=6)
    augment_all(run)
    rows = _rows(run)
    rows[0]["conversations"] = [turn for turn in rows[0]["conversations"] if turn["role"] != "assistant"]
    pq.write_table(pa.Table.from_pylist(rows, schema=AUGMENTED_SCHEMA), run.run_dir.augmented)
    with pytest.raises(GateFailed, match="expect_no_empty_conversation") as failed:
        run_augment_gate(run)
    assert f"{rows[0]['sample_id']}: no answer left" in str(failed.value)


def test_the_copies_are_freed_before_the_cyclic_collector_is_back_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    from vlforge.augment import gate

    run = augment_run(tmp_path, seed=1, shard_size=6)
    make_curated(run, train=6)
    augment_all(run)
    seen: dict[str, object] = {}
    tables = gate.augment_tables

    def watching(copies: list[Sample], *rest: object) -> object:
        seen["collector_on"] = gc.isenabled()
        seen["copy"] = weakref.ref(copies[0])
        return tables(copies, *rest)

    def enabling() -> None:
        seen.setdefault("copy_alive_when_back_on", seen["copy"]() is not None)
        enable()

    enable = gc.enable
    monkeypatch.setattr(gate, "augment_tables", watching)
    monkeypatch.setattr(gc, "enable", enabling)
    assert run_augment_gate(run)["passed"]
    assert seen["collector_on"] is False and seen["copy_alive_when_back_on"] is False and gc.isenabled()
