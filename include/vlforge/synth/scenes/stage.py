"""The scenes stage: render each recipe prompt, screen the images with CLIP, label the survivors, write a Label Studio review file.

Shards over the prompts (``plan_scene_shards`` -> ``render_scene_shard`` per shard ->
``write_scene_review``) let workers share the rendering. Every image goes into the content-addressed
store and is linked into the run folder's ``scenes/images``, the Label Studio document root of the
review. A scene below ``scenes.clip_threshold`` is dropped and listed with its score; a survivor
becomes a task whose prediction holds the VLM's boxes and caption and whose ``data.vlforge_scene``
holds the generator, prompt, seed and parameters that made it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from vlforge.ingest.scene_tasks import SCENE_KEY
from vlforge.media import store_image
from vlforge.preannotate.tasks import VlmLabels, vlm_labels, write_import
from vlforge.preannotate.vlm import Vlm, shared_vlm
from vlforge.records import ImageRef
from vlforge.run import RunDescription
from vlforge.store import atomic_write_text
from vlforge.synth.scenes.clip_score import ClipScorer
from vlforge.synth.scenes.render import DiffusersRenderer, draw_scene, png_bytes, scene_rng

log = logging.getLogger(__name__)
CLIP_BELOW_THRESHOLD = "clip_below_threshold"


class Renderer(Protocol):
    """What the stage needs from a text-to-image model."""

    name: str

    def render(self, scene: dict[str, Any]) -> Image.Image: ...


class Scorer(Protocol):
    """What the stage needs from an image-text agreement model."""

    def similarity(self, images: list[Image.Image], texts: list[str]) -> list[float]: ...


@dataclass(frozen=True)
class SceneModels:
    """The three models of the stage: one renders, one screens, one labels."""

    renderer: Renderer
    scorer: Scorer
    vlm: Vlm


@functools.cache
def _shared_renderer(model_path: str, device: str, dtype: str) -> DiffusersRenderer:
    return DiffusersRenderer(model_path, device, dtype)


@functools.cache
def _shared_scorer(model_path: str, device: str) -> ClipScorer:
    return ClipScorer(model_path, device)


def scene_models(run: RunDescription) -> SceneModels:
    """The recipe's models, each loaded once per process (a worker rendering several shards loads them once)."""
    recipe = run.recipe
    settings = recipe.scenes
    if not (settings.model_path and settings.clip_model_path):
        raise ValueError("scenes.model_path and scenes.clip_model_path must be set to generate scenes")
    return SceneModels(
        renderer=_shared_renderer(settings.model_path, settings.device, settings.dtype),
        scorer=_shared_scorer(settings.clip_model_path, settings.device),
        vlm=shared_vlm(recipe.preannotate.vlm),
    )


def plan_scene_shards(run: RunDescription) -> list[dict[str, Any]]:
    """The recipe's prompts in shards of ``scenes.prompts_per_shard``: ``[{"index": 0, "prompts": [...]}, ...]`` (JSON-able)."""
    settings = run.recipe.scenes
    prompts, size = list(settings.prompts), settings.prompts_per_shard
    return [{"index": number, "prompts": prompts[start : start + size]} for number, start in enumerate(range(0, len(prompts), size))]


def render_scene_shard(run: RunDescription, shard: dict[str, Any], models: SceneModels | None = None) -> dict[str, Any]:
    """Render, store, screen and label ``images_per_prompt`` scenes of each prompt of ``shard``; write the shard file.

    Args:
        run: the run (its frozen recipe's ``scenes`` and ``preannotate.vlm`` sections, its seed).
        shard: one entry of ``plan_scene_shards``.
        models: the models to use; by default the recipe's (``scene_models``).

    Returns:
        ``{"shard", "rendered", "kept", "dropped"}``.
    """
    recipe = run.recipe
    settings = recipe.scenes
    models = models or scene_models(run)
    tasks, dropped = [], []
    for prompt in shard["prompts"]:
        for number in range(settings.images_per_prompt):
            scene = draw_scene(prompt, settings, scene_rng(run.seed, prompt, number), models.renderer.name)
            image = models.renderer.render(scene)
            reference = _store(image, run, f"scene {prompt!r} #{number}")
            (score,) = models.scorer.similarity([image], [prompt])
            if score < settings.clip_threshold:
                where = {"prompt": prompt, "number": number, "seed": scene["seed"], "sha256": reference.sha256}
                dropped.append(where | {"clip_score": round(score, 6), "reason": CLIP_BELOW_THRESHOLD})
                continue
            labels = vlm_labels(image, models.vlm, recipe.preannotate.vlm)
            image_url = f"{recipe.preannotate.image_url_prefix}{run.run_dir.scene_images.name}/{reference.file_name}"
            tasks.append(scene_task(scene, reference, image_url, score, labels, models.vlm.model_version))
    counts = {"rendered": len(shard["prompts"]) * settings.images_per_prompt, "kept": len(tasks), "dropped": len(dropped)}
    shard_file = run.run_dir.scene_shard(shard["index"])
    atomic_write_text(shard_file, json.dumps({"tasks": tasks, "dropped": dropped, "counts": counts}, indent=2, ensure_ascii=False))
    log.info("scenes shard %d: %s", shard["index"], counts)
    return {"shard": shard["index"], **counts}


def scene_task(scene: dict[str, Any], reference: ImageRef, image_url: str, score: float, labels: VlmLabels, model_version: str) -> dict[str, Any]:
    """A Label Studio task for one scene: the image, the scene's lineage, the VLM's labels as a prediction."""
    return {
        "data": {"image": image_url, SCENE_KEY: scene},
        "predictions": [{"model_version": f"vlforge-scenes: {model_version}", "score": round(score, 6), "result": labels.results(reference)}],
        "meta": {"clip_score": round(score, 6), "sha256": reference.sha256, "width": reference.width, "height": reference.height},
    }


def write_scene_review(run: RunDescription) -> dict[str, Any]:
    """Merge the shard files, in prompt order, into the run's scene review file and its label config; write the counts.

    Returns:
        The counts as ``scenes/scene_stats.json`` holds them: prompts, rendered, review tasks,
        dropped per reason, each dropped scene with its CLIP score, and where the files are.

    Raises:
        FileNotFoundError: naming a shard that was not rendered.
    """
    settings = run.recipe.scenes
    run_dir = run.run_dir
    tasks: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    rendered = 0
    for shard in plan_scene_shards(run):
        shard_file = run_dir.scene_shard(shard["index"])
        if not shard_file.is_file():
            raise FileNotFoundError(f"scene shard {shard['index']} was not rendered: {shard_file} is missing")
        written = json.loads(shard_file.read_text(encoding="utf-8"))
        tasks += written["tasks"]
        dropped += written["dropped"]
        rendered += written["counts"]["rendered"]
    files = write_import(tasks, run_dir.scene_review_tasks)
    stats = {
        "prompts": len(settings.prompts),
        "rendered": rendered,
        "review_tasks": len(tasks),
        "clip_threshold": settings.clip_threshold,
        "dropped_by_reason": dict(Counter(item["reason"] for item in dropped)),
        "dropped": dropped,
        "review_file": files["output"],
        "label_config": files["label_config"],
        "document_root": str(run_dir.scenes),
    }
    atomic_write_text(run_dir.scene_stats, json.dumps(stats, indent=2, ensure_ascii=False))
    log.info("scenes: %d review tasks of %d rendered; dropped %s", len(tasks), stats["rendered"], stats["dropped_by_reason"])
    return stats


def _store(image: Image.Image, run: RunDescription, name: str) -> ImageRef:
    """Put the rendered image (PNG) into the store and link it into the review's ``images`` folder."""
    reference = store_image(png_bytes(image), run.store, name)
    run.store.link_into(reference.sha256, reference.format, run.run_dir.scene_images)
    return reference
