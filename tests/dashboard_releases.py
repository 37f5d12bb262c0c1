"""Three real releases of one dataset, made by the release pipeline's own stages, for the dashboard tests.

``v1`` is the demo export as it is; ``v2`` drops the cat (task 3), adds it back as task 8 with
another caption, and rewords the camera's caption (task 5): one sample added, one removed, one
changed, each with its augmented copy; ``v3`` moves the astronaut's round-2 boxes (task 1) right by ``SHIFT`` of their width, so its
IoU agreement falls by more than the tolerance while the gate still passes: it is held.

The recipe is the default one with the dataset IoU threshold at ``IOU_THRESHOLD`` (0.85 by default):
the demo's mean IoU is 0.858, too close to 0.85 for a regression beyond the 0.02 tolerance that still passes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from vlforge.config import Recipe

DATASET = "demo"
SHIFT = 0.08
IOU_THRESHOLD = 0.80
CAMERA_CAPTION = "A photographer in a long coat stands in a meadow with a camera on a tripod."
CAT_CAPTION = "A tabby cat looks straight at the camera."


@dataclass(frozen=True)
class BuiltRelease:
    version: str
    path: Path
    outcome: str
    run_id: str


@dataclass(frozen=True)
class DashboardReleases:
    home: Path
    catalog_url: str
    releases: list[BuiltRelease]


def _edit_export(export: Path, edit: str) -> Path:
    tasks = json.loads(export.read_text(encoding="utf-8"))
    by_id = {task["id"]: task for task in tasks}
    if edit in ("v2", "v3"):
        cat = copy.deepcopy(by_id[3])
        tasks.remove(by_id[3])
        cat["id"] = 8
        for annotation in cat["annotations"]:
            annotation["id"] = 800 + annotation["id"] % 100
            for result in annotation["result"]:
                if result["type"] == "textarea":
                    result["value"]["text"] = [CAT_CAPTION]
        tasks.append(cat)
        for result in by_id[5]["annotations"][0]["result"]:
            if result["type"] == "textarea":
                result["value"]["text"] = [CAMERA_CAPTION]
    if edit == "v3":
        for result in by_id[1]["annotations"][1]["result"]:
            value = result["value"]
            if "width" in value:
                value["x"] = min(value["x"] + SHIFT * value["width"], 100 - value["width"])
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return export


def dashboard_recipe() -> Recipe:
    from vlforge.config import load_recipe

    recipe = load_recipe("default")
    dataset = recipe.quality.dataset.model_copy(update={"iou_agreement": IOU_THRESHOLD})
    return recipe.model_copy(update={"quality": recipe.quality.model_copy(update={"dataset": dataset})})


def build_releases(root: Path) -> DashboardReleases:
    """Publish, record and promote (or hold) three releases of ``demo`` under ``root`` (about a minute)."""
    # Imported here: collecting the tests must not pay for the stages (GX, BERTScore).
    from vlforge.augment.gate import run_augment_gate
    from vlforge.augment.stage import augment_shard, merge_augmented, plan_shards
    from vlforge.catalog import open_catalog
    from vlforge.curate.stage import run_curate
    from vlforge.demo import prepare_demo
    from vlforge.ingest import run_ingest
    from vlforge.ingest.gate import run_ingest_gate
    from vlforge.prepare import prepare_run
    from vlforge.promotion import decide
    from vlforge.quality.gate import run_quality_gate
    from vlforge.quality.stage import run_agreement
    from vlforge.release import publish_release, read_release

    recipe = dashboard_recipe()
    home = root / "home"
    catalog_url = f"sqlite:///{root / 'catalog.sqlite'}"
    built = []
    for name in ("v1", "v2", "v3"):
        export = _edit_export(prepare_demo(root / "sources" / name), name)
        run_id = f"manual__2026-12-0{len(built) + 1}T10:00:00+00:00"
        run = prepare_run(
            home, DATASET, name, recipe, source=str(export), source_format="label_studio", dag_run=("vlforge_release", run_id)
        )
        run_ingest(run)
        run_ingest_gate(run)
        run_agreement(run)
        run_quality_gate(run)
        run_curate(run)
        for shard in plan_shards(run):
            augment_shard(run, shard)
        merge_augmented(run)
        run_augment_gate(run)
        published = publish_release(run)
        with open_catalog(catalog_url) as catalog:
            decision = decide(read_release(published["path"]), catalog, recipe.release.tolerance)
        built.append(BuiltRelease(published["version"], Path(published["path"]), decision.outcome, run_id))
    return DashboardReleases(home, catalog_url, built)
