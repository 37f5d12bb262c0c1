"""The generated-scene path end to end with tiny random models: rendered, stored, screened by CLIP, labelled by the VLM,
written as Label Studio review tasks; an accepted export releases the scenes, an unaccepted one does not."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.tiny_scenes import PROMPTS, TinyModels, generate_scenes

from vlforge.cli import main
from vlforge.curate.stage import run_curate
from vlforge.gates import GateFailed
from vlforge.ingest import run_ingest
from vlforge.ingest.gate import run_ingest_gate
from vlforge.manifest import read_manifest, read_split_manifest
from vlforge.prepare import prepare_run
from vlforge.quality.gate import run_quality_gate
from vlforge.quality.stage import run_agreement
from vlforge.release import publish_release
from vlforge.run import RunDescription
from vlforge.synth.scenes.render import DiffusersRenderer, png_bytes
from vlforge.synth.scenes.stage import plan_scene_shards

pytestmark = pytest.mark.slow


def _clip_cosine(models: TinyModels, image: Image.Image, text: str) -> float:
    """CLIP's cosine similarity computed here from the projected features, apart from the scorer's code path."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(models.clip), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(models.clip), local_files_only=True)
    with torch.inference_mode():
        image_features = model.get_image_features(**processor(images=[image], return_tensors="pt")).pooler_output[0]
        text_features = model.get_text_features(**processor(text=[text], return_tensors="pt")).pooler_output[0]
    return float(image_features @ text_features / (image_features.norm() * text_features.norm()))


def test_every_prompt_is_rendered_stored_labelled_and_written_as_a_review_task(generated, tiny_models: TinyModels) -> None:  # noqa: ANN001
    run, stats = generated
    run_dir = run.run_dir
    tasks = json.loads(run_dir.scene_review_tasks.read_text(encoding="utf-8"))
    assert plan_scene_shards(run) == [{"index": 0, "prompts": [PROMPTS[0]]}, {"index": 1, "prompts": [PROMPTS[1]]}]
    assert {key: stats[key] for key in ("prompts", "rendered", "review_tasks", "dropped_by_reason", "dropped")} == {
        "prompts": 2, "rendered": 4, "review_tasks": 4, "dropped_by_reason": {}, "dropped": []
    }
    assert json.loads(run_dir.scene_stats.read_text(encoding="utf-8")) == stats
    assert stats["review_file"] == str(run_dir.scene_review_tasks) and stats["document_root"] == str(run_dir.scenes)
    assert '<RectangleLabels name="label" toName="image">' in run_dir.scene_label_config.read_text(encoding="utf-8")

    assert [task["data"]["vlforge_scene"]["prompt"] for task in tasks] == [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]
    assert len({task["data"]["vlforge_scene"]["seed"] for task in tasks}) == 4
    for task in tasks:
        scene = task["data"]["vlforge_scene"]
        assert scene["generator"] == f"diffusers:StableDiffusionPipeline:{tiny_models.stable_diffusion.name}"
        assert scene["params"] == {"width": 64, "height": 48, "steps": 2, "guidance_scale": 7.5, "negative_prompt": None}
        sha256 = task["meta"]["sha256"]
        assert task["data"]["image"] == f"/data/local-files/?d=images/{sha256}.png"
        linked = run_dir.scene_images / f"{sha256}.png"
        assert hashlib.sha256(linked.read_bytes()).hexdigest() == sha256
        assert run.store.path_for(sha256, "png").read_bytes() == linked.read_bytes()
        with Image.open(linked) as image:
            assert (image.size, image.mode, task["meta"]["width"], task["meta"]["height"]) == ((64, 48), "RGB", 64, 48)
            assert task["meta"]["clip_score"] == pytest.approx(_clip_cosine(tiny_models, image, scene["prompt"]), abs=1e-5)
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == f"vlforge-scenes: qwen2_vl:{tiny_models.qwen.name}"
        assert prediction["score"] == task["meta"]["clip_score"]
        assert {result["from_name"] for result in prediction["result"]} <= {"label", "caption"}


def test_a_scene_renders_again_to_the_same_bytes_from_its_lineage(generated, tiny_models: TinyModels) -> None:  # noqa: ANN001
    run, _ = generated
    task = json.loads(run.run_dir.scene_review_tasks.read_text(encoding="utf-8"))[-1]
    image = DiffusersRenderer(str(tiny_models.stable_diffusion)).render(task["data"]["vlforge_scene"])
    assert hashlib.sha256(png_bytes(image)).hexdigest() == task["meta"]["sha256"]


def test_scenes_below_the_clip_threshold_are_dropped_and_counted(generated, tiny_models: TinyModels, tmp_path: Path) -> None:  # noqa: ANN001
    _, kept_all = generated
    scores = sorted(task["meta"]["clip_score"] for task in json.loads(Path(kept_all["review_file"]).read_text(encoding="utf-8")))
    run, stats = generate_scenes(tmp_path, tiny_models, "screened", clip_threshold=scores[1])

    tasks = json.loads(run.run_dir.scene_review_tasks.read_text(encoding="utf-8"))
    assert sorted(task["meta"]["clip_score"] for task in tasks) == scores[1:]
    assert (stats["rendered"], stats["review_tasks"], stats["dropped_by_reason"]) == (4, 3, {"clip_below_threshold": 1})
    (dropped,) = stats["dropped"]
    assert dropped["clip_score"] == scores[0] < stats["clip_threshold"] == scores[1]
    assert dropped["reason"] == "clip_below_threshold" and dropped["prompt"] in PROMPTS


def _reviewed_export(tasks: list[dict[str, Any]], accepted: int) -> list[dict[str, Any]]:
    """The review tasks as Label Studio exports them once a reviewer annotated each: the first ``accepted`` marked ground truth.

    The reviewer keeps the machine's caption and draws one box over the left half of the image.
    """
    exported = copy.deepcopy(tasks)
    for number, task in enumerate(exported):
        box = {
            "id": f"review{number}",
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": 64,
            "original_height": 48,
            "image_rotation": 0,
            "value": {"x": 0.0, "y": 0.0, "width": 50.0, "height": 100.0, "rotation": 0, "rectanglelabels": ["pedestrian"]},
        }
        caption = {"id": "c", "type": "textarea", "from_name": "caption", "to_name": "image", "value": {"text": [f"Scene {number}."]}}
        task |= {"id": 500 + number, "project": 9}
        task["annotations"] = [
            {"id": 900 + number, "completed_by": 2, "was_cancelled": False, "ground_truth": number < accepted, "result": [box, caption]}
        ]
        task["predictions"] = [number]  # Label Studio exports predictions as their ids
    return exported


def _release_run(generated, home: Path, export: list[dict[str, Any]], run_name: str) -> RunDescription:  # noqa: ANN001
    scenes_run, _ = generated
    source = home / "downloads" / f"{run_name}.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(json.dumps(export), encoding="utf-8")
    recipe = scenes_run.recipe.model_copy(update={"ingest": scenes_run.recipe.ingest.model_copy(update={"max_quarantine_share": 0.5})})
    run = prepare_run(home, "street", run_name, recipe, source=str(source), images_root=str(scenes_run.run_dir.scenes))
    run_ingest(run)
    return run


def test_an_accepted_export_releases_the_scenes_as_synthetic_samples_with_their_lineage(
    generated, tiny_models: TinyModels, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    scenes_run, _ = generated
    tasks = json.loads(scenes_run.run_dir.scene_review_tasks.read_text(encoding="utf-8"))
    run = _release_run(generated, tmp_path, _reviewed_export(tasks, accepted=3), "accepted")
    run_ingest_gate(run)
    run_agreement(run)
    run_quality_gate(run)
    run_curate(run)
    published = publish_release(run)

    release = json.loads((Path(published["path"]) / "RELEASE.json").read_text(encoding="utf-8"))
    assert release["counts"]["samples"] == 3 and release["counts"]["synthetic_share"] == 1.0
    samples, _ = read_split_manifest(Path(published["path"]) / "manifest.parquet")
    assert sorted(sample.images[0].sha256 for sample in samples) == sorted(task["meta"]["sha256"] for task in tasks[:3])
    for sample in samples:
        task = next(task for task in tasks if task["meta"]["sha256"] == sample.images[0].sha256)
        assert sample.synthetic and sample.gold
        assert [(entry.op, json.loads(entry.params_json), entry.seed) for entry in sample.lineage] == [
            ("scene", task["data"]["vlforge_scene"], task["data"]["vlforge_scene"]["seed"])
        ]
        assert [(box.x1, box.y1, box.x2, box.y2, box.label) for box in sample.boxes] == [(0.0, 0.0, 32.0, 48.0, "pedestrian")]
    quarantine = [json.loads(line) for line in run.run_dir.quarantine.read_text(encoding="utf-8").splitlines()]
    assert [(line["record_id"], line["field"], line["value"]) for line in quarantine] == [
        ("task 503", "annotations", "1 annotation(s), none ground truth")
    ]
    assert quarantine[0]["reason"].startswith("generated scene was not accepted by a reviewer")

    # vlforge replay renders a released scene again from its lineage.
    sample_id = samples[0].sample_id
    assert main(["replay", sample_id, "--from", published["path"], "--scene-model", str(tiny_models.stable_diffusion)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {sample_id}: rendered diffusers:StableDiffusionPipeline:tiny-sd seed ")
    assert main(["replay", sample_id, "--from", published["path"]]) == 1
    assert capsys.readouterr().err.strip() == (
        f"sample {sample_id} is a generated scene (diffusers:StableDiffusionPipeline:tiny-sd): pass --scene-model DIR"
    )


def test_an_export_nobody_accepted_releases_nothing(generated, tmp_path: Path) -> None:  # noqa: ANN001
    scenes_run, _ = generated
    tasks = json.loads(scenes_run.run_dir.scene_review_tasks.read_text(encoding="utf-8"))
    run = _release_run(generated, tmp_path, _reviewed_export(tasks, accepted=0), "unaccepted")

    assert read_manifest(run.run_dir.ingested) == []
    stats = json.loads(run.run_dir.ingest_stats.read_text(encoding="utf-8"))
    assert (stats["rows_in"], stats["rows_ok"], stats["rows_quarantined"]) == (4, 0, 4)
    with pytest.raises(GateFailed):
        run_ingest_gate(run)
    with pytest.raises(RuntimeError, match="release refused: gates not passed"):
        publish_release(run)
    assert not run.releases.path.exists()
