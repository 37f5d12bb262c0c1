"""The augment gate: a 1000+ copy run passes with every op's share within 5 points; corrupted copies fail it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from augment_stage_data import FakeScorer, make_stage

from vlforge.augment.stage import AUGMENT_STATS, AUGMENTED, AUGMENTED_SCHEMA, applied_ops, augment_shard, merge_augmented, plan_shards
from vlforge.config import Recipe, load_recipe
from vlforge.quality.gates import GateFailed, run_augment_gate
from vlforge.quality.suites import MIN_COPIES_FOR_SHARES, augment_suites, augment_tables
from vlforge.release import CURATED, read_curated
from vlforge.store import ImageStore


def recipe_with_copies(copies: int) -> Recipe:
    recipe = load_recipe("default")
    return recipe.model_copy(update={"augment": recipe.augment.model_copy(update={"copies_per_sample": copies})})


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recipe]:
    """320 train samples x 4 copies of 64x64 images: over 1000 copies even of the non-OCR ones (flips), in 4 shards."""
    root = tmp_path_factory.mktemp("augment_gate")
    store = ImageStore(root / "store")
    recipe = recipe_with_copies(4)
    make_stage(root / "stage", store, train=320)
    for shard in plan_shards(root / "stage", 100):
        augment_shard(root / "stage", shard, recipe, "main", 2024, store.root, scorer=FakeScorer())
    merge_augmented(root / "stage")
    return root / "stage", recipe


def test_op_shares_within_five_points_and_gate_passes(big_run: tuple[Path, Recipe]) -> None:
    stage, recipe = big_run
    stats = json.loads((stage / AUGMENT_STATS).read_text())
    assert stats["augmented"] >= MIN_COPIES_FOR_SHARES
    checked = {name: entry for name, entry in stats["ops"].items() if entry["eligible"] >= MIN_COPIES_FOR_SHARES}
    # every op but ocr_degradation, which only OCR copies (1 in 5) are eligible for; flips skip OCR copies
    assert len(checked) == 9 and checked["horizontal_flip"]["eligible"] < stats["augmented"]
    for name, entry in checked.items():
        assert abs(entry["share"] - entry["probability"]) <= 0.05, (name, entry)
    ocr = stats["ops"]["ocr_degradation"]
    assert 0 < ocr["eligible"] < MIN_COPIES_FOR_SHARES and ocr["applied"] > 0

    result = run_augment_gate(stage, recipe)
    assert result["passed"] and result["failed"] == []
    gx_result = json.loads(Path(result["result_path"]).read_text())
    types = [item["expectation_config"]["type"] for item in gx_result["op_shares"]["results"]]
    assert types == ["expect_op_applied_share_near_probability"] * 9
    assert {"boxes", "copies", "op_shares", "paraphrases"} <= set(gx_result)


def test_share_expectations_need_1000_eligible_copies(tmp_path: Path, store: ImageStore) -> None:
    recipe = load_recipe("default")
    make_stage(tmp_path / "stage", store, train=30)
    for shard in plan_shards(tmp_path / "stage", 30):
        augment_shard(tmp_path / "stage", shard, recipe, "main", 1, store.root, scorer=FakeScorer())
    merge_augmented(tmp_path / "stage")
    copies = pq.read_table(tmp_path / "stage" / AUGMENTED).num_rows
    assert 0 < copies < MIN_COPIES_FOR_SHARES
    parents = {s.sample_id: s for s in read_curated(tmp_path / "stage" / CURATED)[0]}
    from vlforge.augment.stage import read_augmented

    specs = recipe.augment.phase_specs("main")
    tables = augment_tables(read_augmented(tmp_path / "stage" / AUGMENTED), parents, specs)
    suites = augment_suites(recipe, tables, specs)
    assert "op_shares" not in suites and {"boxes", "copies"} <= set(suites)
    assert run_augment_gate(tmp_path / "stage", recipe)["passed"]


def _rows(stage: Path) -> list[dict]:
    return pq.read_table(stage / AUGMENTED).to_pylist()


def test_corrupted_copies_fail_the_gate(big_run: tuple[Path, Recipe], tmp_path: Path) -> None:
    source, recipe = big_run
    stage = tmp_path / "stage"
    shutil.copytree(source, stage, ignore=shutil.ignore_patterns("gx", "gx_results", "gates"))
    rows = _rows(stage)
    parents = {s.sample_id: s for s in read_curated(stage / CURATED)[0]}
    from vlforge.manifest import table_to_samples

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
    pq.write_table(pa.Table.from_pylist(rows, schema=AUGMENTED_SCHEMA), stage / AUGMENTED)

    with pytest.raises(GateFailed) as failed:
        run_augment_gate(stage, recipe)
    message = str(failed.value)
    for expectation in ("expect_box_right_edge_inside_image", "expect_side_words_match_flips", "expect_paraphrase_bertscore_at_least"):
        assert expectation in message
    assert rows[flipped]["sample_id"] in message and "expected ['right'], found ['left']" in message
    assert sorted(failed.value.result.failed) == [
        "expect_box_right_edge_inside_image", "expect_paraphrase_bertscore_at_least", "expect_side_words_match_flips"
    ]


def test_empty_conversation_fails_the_gate(tmp_path: Path, store: ImageStore) -> None:
    recipe = load_recipe("default")
    make_stage(tmp_path / "stage", store, train=6)
    for shard in plan_shards(tmp_path / "stage", 6):
        augment_shard(tmp_path / "stage", shard, recipe, "main", 1, store.root, scorer=FakeScorer())
    merge_augmented(tmp_path / "stage")
    rows = _rows(tmp_path / "stage")
    rows[0]["conversations"] = [turn for turn in rows[0]["conversations"] if turn["role"] != "assistant"]
    pq.write_table(pa.Table.from_pylist(rows, schema=AUGMENTED_SCHEMA), tmp_path / "stage" / AUGMENTED)
    with pytest.raises(GateFailed, match="expect_no_empty_conversation") as failed:
        run_augment_gate(tmp_path / "stage", recipe)
    assert f"{rows[0]['sample_id']}: no answer left" in str(failed.value)
