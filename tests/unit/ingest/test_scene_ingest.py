"""Generated-scene tasks in a Label Studio export: released as synthetic samples with their lineage only once a reviewer
accepted them (a ground-truth annotation), unless the recipe allows unreviewed scenes.

The tasks are the ones vlforge's scene stage writes (``scene_task``), the annotations what Label
Studio exports for them; no model runs here (tests/unit/synth/scenes runs the models).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vlforge.config import Recipe
from vlforge.ingest import run_ingest
from vlforge.ingest.scene_tasks import SCENE_KEY, SCENE_OP
from vlforge.manifest import read_manifest
from vlforge.preannotate.tasks import VlmLabels
from vlforge.prepare import prepare_run
from vlforge.records import Box, ImageRef, Sample
from vlforge.store import sha256_bytes
from vlforge.synth.scenes.config import ScenesConfig
from vlforge.synth.scenes.render import draw_scene
from vlforge.synth.scenes.stage import scene_task

WIDTH, HEIGHT = 64, 48
PROMPTS = ("pedestrians on a rainy street at night", "a fox crossing a snowy road")
REASON = (
    "generated scene was not accepted by a reviewer (no annotation is marked ground truth) "
    "and the recipe does not allow unreviewed scenes (scenes.allow_unreviewed: false)"
)


def _reviewer_annotation(annotation_id: int, ground_truth: bool) -> dict[str, Any]:
    """What Label Studio exports for a reviewer's annotation: a box at 25%,50% of 50%x25% and a caption."""
    return {
        "id": annotation_id,
        "completed_by": 1,
        "was_cancelled": False,
        "ground_truth": ground_truth,
        "result": [
            {
                "id": "r1",
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": WIDTH,
                "original_height": HEIGHT,
                "image_rotation": 0,
                "value": {"x": 25.0, "y": 50.0, "width": 50.0, "height": 25.0, "rotation": 0, "rectanglelabels": ["pedestrian"]},
            },
            {"id": "c1", "type": "textarea", "from_name": "caption", "to_name": "image", "value": {"text": ["People cross a wet street."]}},
        ],
    }


@pytest.fixture
def scene_export(tmp_path: Path, stand_in) -> tuple[Path, list[dict[str, Any]]]:  # noqa: ANN001
    """Two scene review tasks and the review folder whose ``images/`` holds their images; the caller adds annotations."""
    folder = tmp_path / "scenes"
    tasks = []
    for number, prompt in enumerate(PROMPTS):
        drawn = folder / "drawn.png"
        reference = ImageRef(sha256=sha256_bytes(stand_in(drawn, WIDTH, HEIGHT, (40 * number, 90, 160))), width=WIDTH, height=HEIGHT, format="png")
        (folder / "images").mkdir(exist_ok=True)
        drawn.rename(folder / "images" / reference.file_name)
        scene = draw_scene(prompt, ScenesConfig(width=WIDTH, height=HEIGHT, steps=2), np.random.default_rng(number), "diffusers:tiny")
        labels = VlmLabels(boxes=(Box(x1=0, y1=0, x2=32, y2=24, label="car"),), captions=("noise",))
        task = scene_task(scene, reference, f"/data/local-files/?d=images/{reference.file_name}", 0.25, labels, "qwen2_vl:tiny")
        tasks.append({"id": 101 + number, **task})
    return folder, tasks


def _ingest(tmp_path: Path, tasks: list[dict[str, Any]], folder: Path, recipe: Recipe) -> tuple[list[Sample], list[dict[str, str]]]:
    """Ingest ``tasks`` as an export saved away from the review folder, its images found through ``images_root``."""
    export = tmp_path / "downloads" / "export.json"
    export.parent.mkdir()
    export.write_text(json.dumps(tasks), encoding="utf-8")
    run = prepare_run(tmp_path / "home", "scenes", "run", recipe, source=str(export), images_root=str(folder))
    stats = run_ingest(run)
    quarantine = [json.loads(line) for line in run.run_dir.quarantine.read_text(encoding="utf-8").splitlines()]
    samples = read_manifest(run.run_dir.ingested)
    assert stats["rows_in"] == len(samples) + len(quarantine)
    return samples, quarantine


def test_an_accepted_scene_is_released_synthetic_with_its_lineage_and_an_unaccepted_one_is_quarantined(
    tmp_path: Path, scene_export, recipe: Recipe  # noqa: ANN001
) -> None:
    folder, (accepted, unaccepted) = scene_export
    accepted["annotations"] = [_reviewer_annotation(7, ground_truth=True)]
    unaccepted["annotations"] = [_reviewer_annotation(8, ground_truth=False)]

    (sample,), quarantine = _ingest(tmp_path, [accepted, unaccepted], folder, recipe)

    assert sample.synthetic and sample.gold
    (entry,) = sample.lineage
    assert entry.op == SCENE_OP == "scene" and entry.seed == accepted["data"][SCENE_KEY]["seed"]
    assert json.loads(entry.params_json) == accepted["data"][SCENE_KEY]
    assert json.loads(entry.params_json)["prompt"] == PROMPTS[0]
    # The reviewer's labels, not the machine's: 25%..75% of 64 wide, 50%..75% of 48 high.
    (box,) = sample.boxes
    assert (box.x1, box.y1, box.x2, box.y2, box.label) == (16.0, 24.0, 48.0, 36.0, "pedestrian")
    assert sample.conversations[-1].content == "People cross a wet street."
    assert sample.images[0].sha256 == accepted["meta"]["sha256"]
    assert quarantine == [
        {
            "source_file": "export.json",
            "record_id": "task 102",
            "reason": REASON,
            "field": "annotations",
            "value": "1 annotation(s), none ground truth",
        }
    ]


def test_a_scene_nobody_annotated_is_quarantined(tmp_path: Path, scene_export, recipe: Recipe) -> None:  # noqa: ANN001
    folder, tasks = scene_export
    tasks[1]["annotations"] = [_reviewer_annotation(9, ground_truth=True) | {"was_cancelled": True}]

    samples, quarantine = _ingest(tmp_path, tasks, folder, recipe)

    assert samples == []
    assert [(line["record_id"], line["reason"], line["value"]) for line in quarantine] == [
        ("task 101", REASON, "0 annotation(s), none ground truth"),
        ("task 102", REASON, "0 annotation(s), none ground truth"),
    ]


def test_a_recipe_that_allows_unreviewed_scenes_releases_the_machine_labels(tmp_path: Path, scene_export, recipe: Recipe) -> None:  # noqa: ANN001
    folder, (machine_only, annotated) = scene_export
    annotated["annotations"] = [_reviewer_annotation(8, ground_truth=False)]
    allowing = recipe.model_copy(update={"scenes": ScenesConfig(allow_unreviewed=True)})

    samples, quarantine = _ingest(tmp_path, [machine_only, annotated], folder, allowing)

    assert quarantine == []
    from_predictions, from_annotation = samples
    assert all(sample.synthetic and not sample.gold for sample in samples)
    assert from_predictions.annotator == "vlforge-scenes: qwen2_vl:tiny"
    assert from_predictions.source.record_id == "task 101/annotation prediction 1"
    assert [(box.x1, box.y1, box.x2, box.y2, box.label) for box in from_predictions.boxes] == [(0.0, 0.0, 32.0, 24.0, "car")]
    assert from_annotation.boxes[0].label == "pedestrian"
    assert [json.loads(sample.lineage[0].params_json)["prompt"] for sample in samples] == list(PROMPTS)


def test_a_scene_task_with_a_broken_lineage_is_quarantined_naming_the_field(tmp_path: Path, scene_export, recipe: Recipe) -> None:  # noqa: ANN001
    folder, (broken, fine) = scene_export
    del broken["data"][SCENE_KEY]["seed"]
    broken["annotations"] = [_reviewer_annotation(7, ground_truth=True)]
    fine["annotations"] = [_reviewer_annotation(8, ground_truth=True)]

    (sample,), (line,) = _ingest(tmp_path, [broken, fine], folder, recipe)

    assert sample.source.record_id == "task 102/annotation 8"
    assert line["record_id"] == "task 101" and line["field"] == "data.vlforge_scene"
    assert line["reason"].startswith("generated scene's lineage must be an object with generator, prompt, seed, params")
    assert line["reason"].endswith("; missing: seed")
