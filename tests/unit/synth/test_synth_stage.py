"""The synthesize stage: planned shards, a real shard through the synth gate, replay byte for byte, exports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vlforge.cli import main
from vlforge.config import Recipe
from vlforge.export.mobile_use import point_to_relative_999
from vlforge.export.qwen_finetune import qwen2_5_vl_coordinates, qwen2_5_vl_points, record
from vlforge.export.qwen_vl_chatml import record as qwen_vl_record
from vlforge.geometry import xyxy_to_qwen_vl_1000, xyxy_to_relative_1000
from vlforge.manifest import read_split_manifest
from vlforge.prepare import prepare_run
from vlforge.synth.config import SynthConfig
from vlforge.synth.gate import run_synth_gate
from vlforge.synth.stage import (
    document_params,
    merge_synthesized,
    plan_synth,
    plan_synth_shards,
    replay_synthetic,
    screen_params,
    synthesize_shard,
)


def test_plan_covers_every_item_once_in_fixed_shards() -> None:
    config = SynthConfig(documents={"count": 5}, gui={"screens": 3}, pdfs={"paths": ["a.pdf"]}, shard_size=2)
    shards = plan_synth_shards(config, seed=7)
    assert [(s["kind"], s["start"], s["count"]) for s in shards] == [
        ("documents", 0, 2), ("documents", 2, 2), ("documents", 4, 1), ("gui", 0, 2), ("gui", 2, 1), ("pdf", 0, 1)]
    assert [s["index"] for s in shards] == list(range(6)) and plan_synth_shards(config, 7) == shards


def test_unknown_keys_and_values_are_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="extra"):
        SynthConfig(documents={"cuont": 3})
    with pytest.raises(ValueError, match=r"unknown \['poster'\]; allowed: \['receipt'"):
        SynthConfig(documents={"templates": ["poster"]})
    with pytest.raises(ValueError, match="accuracy_range"):
        SynthConfig(documents={"degrade": {"accuracy_range": (0.9, 0.1)}})


@pytest.mark.slow
def test_a_shard_passes_the_gate_and_every_sample_replays(tmp_path: Path, tesseract, recipe: Recipe) -> None:
    config = SynthConfig(
        documents={"count": 2, "templates": ["sign"], "degrade": {"copies_per_page": 1, "accuracy_range": (0.0, 1.0)}},
        gui={"screens": 1, "templates": ["login"], "devices": ["phone"], "grounding_per_screen": 1, "actions_per_screen": 1},
        shard_size=4,
    )
    run = prepare_run(tmp_path / "home", "synthtest", "run1", recipe.model_copy(update={"synth": config}), seed=11)
    store = run.store_dir
    summaries = [synthesize_shard(run, shard) for shard in plan_synth(run)]
    assert [summary["kind"] for summary in summaries] == ["documents", "gui"]
    stats = merge_synthesized(run)
    samples, splits = read_split_manifest(run.run_dir.synthesized)
    assert stats["samples"] == len(samples) == sum(summary["samples"] for summary in summaries) and set(splits) == {"train"}
    checks = pd.read_parquet(run.run_dir.synth_checks)
    kinds = sorted({(s.task_type, s.source.file) for s in samples})
    assert ("ocr", "synth/documents/sign") in kinds and ("grounding", "synth/gui/login") in kinds
    assert ("gui_action", "synth/gui/login") in kinds
    assert all(sample.synthetic for sample in samples)
    # page 0 is English, page 1 Chinese: each became samples or was quarantined with its reason
    quarantine = [json.loads(line) for line in run.run_dir.synth_quarantine.read_text().splitlines()]
    assert stats["quarantined"] == len(quarantine)
    pages = checks[(checks["kind"] == "documents") & (checks["check"] == "clean")]
    assert sorted(pages["language"]) == ["en", "zh"]
    for _, page in pages.iterrows():
        kept = page["sample_id"] in {s.sample_id for s in samples}
        assert kept != any(entry.get("sample_id") == page["sample_id"] for entry in quarantine), page["reason"]
    result = run_synth_gate(run)
    assert result["passed"] and result["evaluated"] >= 10

    degraded = next(s for s in samples if len(s.lineage) > 1 and s.task_type == "ocr")
    trajectory = next(s for s in samples if s.lineage[-1].op == "synth.gui.trajectory")
    action = next(s for s in samples if s.lineage[-1].op == "synth.gui.action")
    for sample in (samples[0], degraded, trajectory, action):
        replay = replay_synthetic(sample, store)
        assert replay.ok, (sample.sample_id, replay.detail)
    # `vlforge replay` finds the sample in the shard folder and replays it
    assert main(["replay", degraded.sample_id, "--from", str(run.run_dir.path), "--store", str(store)]) == 0

    # the same action sample in each Qwen generation's own convention
    screen = action.images[0]
    click = action.actions[0]
    assert click.point is not None and click.box is not None
    qwen3 = record(action, recipe, lambda box, image: list(xyxy_to_relative_1000((box.x1, box.y1, box.x2, box.y2), image.width, image.height)), "../../images", lambda p, image: point_to_relative_999(p, image.width, image.height))
    call = json.loads(qwen3["conversations"][-1]["value"].split("\n")[1])
    assert call["arguments"]["coordinate"] == point_to_relative_999(click.point, 1080, 2400)
    resize = recipe.export.qwen2_5_vl_resize
    qwen25 = record(action, recipe, qwen2_5_vl_coordinates(resize), "../../images", qwen2_5_vl_points(resize))
    call = json.loads(qwen25["conversations"][-1]["value"].split("\n")[1])
    assert call["arguments"]["coordinate"] == qwen2_5_vl_points(resize)(click.point, screen)
    x1, y1, x2, y2 = xyxy_to_qwen_vl_1000((click.box.x1, click.box.y1, click.box.x2, click.box.y2), 1080, 2400)
    first = qwen_vl_record(action, recipe, "../../images")
    assert first["conversations"][-1]["value"].startswith("click") or first["conversations"][-1]["value"].startswith("type")
    assert f"<box>({x1},{y1}),({x2},{y2})</box>" in first["conversations"][-1]["value"]
    grounding = next(s for s in samples if s.task_type == "grounding")
    (box,) = grounding.boxes
    answer = json.loads(record(grounding, recipe, qwen2_5_vl_coordinates(resize), "../../images")["conversations"][-1]["value"])
    assert answer == [{"bbox_2d": qwen2_5_vl_coordinates(resize)(box, grounding.images[0]), "label": box.label}]
    turns = qwen_vl_record(grounding, recipe, "../../images")["conversations"]
    assert turns[0]["value"].endswith("\n" + grounding.conversations[0].content)
    gx1, gy1, gx2, gy2 = xyxy_to_qwen_vl_1000((box.x1, box.y1, box.x2, box.y2), 1080, 2400)
    assert turns[1]["value"] == f"<ref>{box.label}</ref><box>({gx1},{gy1}),({gx2},{gy2})</box>"


def test_recipe_vocabulary_fills_receipts_and_shops() -> None:
    items = ("Widget", "Gadget", "Sprocket", "Gizmo", "Bolt", "Nut")
    config = SynthConfig(documents={"templates": ["receipt"]}, gui={"templates": ["shopping"]}, vocabulary={"en": items})
    params, _, _ = document_params(config, 3, 0)  # page 0: English
    assert params["language"] == "en" and {item["name"] for item in params["fields"]["items"]} <= set(items)
    screens = [screen_params(config, 3, index)[0] for index in range(6)]
    english = [screen for screen in screens if screen["language"] == "en"]
    assert english and all({name for name, _ in s["fields"]["products"]} <= set(items) for s in english)
    assert document_params(config, 3, 0)[0] == params  # same seed, same page


def test_generator_names_match_the_recipe_names() -> None:
    from vlforge.synth.config import DOCUMENT_TEMPLATES, GUI_TEMPLATES
    from vlforge.synth.documents.fill import TEMPLATES as DOCUMENTS
    from vlforge.synth.gui.fill import TEMPLATES as SCREENS

    assert tuple(DOCUMENTS) == DOCUMENT_TEMPLATES and tuple(SCREENS) == GUI_TEMPLATES


def test_prepare_refuses_a_misspelt_degradation_naming_where(tmp_path: Path, recipe: Recipe) -> None:
    from vlforge.config import RecipeError

    bad = SynthConfig(documents={"degrade": {"ops": [{"jpeg": {"probability": 0.5}}, {"blurr": {"probability": 0.5}}]}})
    with pytest.raises(RecipeError, match=r"synth\.documents\.degrade\.ops\[1\]: unknown augment op 'blurr'; known ops: .*warp"):
        prepare_run(tmp_path, "shop", "run1", recipe.model_copy(update={"synth": bad}))
