"""The scene op: draw a scene's parameters from a seeded generator, render them with a local Stable Diffusion pipeline.

``draw_scene`` is the only random step; ``DiffusersRenderer.render`` is deterministic for a given
model folder and device: the diffusion noise comes from a ``torch.Generator`` seeded with the
drawn seed. torch and diffusers are imported when the pipeline is loaded, never when this module is.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlforge.ingest.scene_tasks import SCENE_OP
from vlforge.layout import sample_manifests
from vlforge.manifest import find_sample
from vlforge.records import Sample
from vlforge.store import sha256_bytes
from vlforge.synth.scenes.config import ScenesConfig

# torch.Generator.manual_seed takes any 64-bit value; 31 bits keep seeds readable in the lineage.
_SEED_LIMIT = 2**31


class SceneModelError(RuntimeError):
    """A configured model folder cannot be used (the message names it and what is expected)."""


def scene_rng(seed: int, prompt: str, number: int) -> np.random.Generator:
    """The generator of one scene, keyed by the run's seed, the prompt's text and the image's number,
    so adding or reordering prompts leaves every other scene as it was."""
    key = hashlib.sha256(json.dumps([prompt, number], ensure_ascii=False).encode()).hexdigest()[:16]
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(key, 16)]))


def draw_scene(prompt: str, settings: ScenesConfig, rng: np.random.Generator, generator: str) -> dict[str, Any]:
    """A scene's JSON-able parameters: what the review task and the released sample's lineage record.

    Args:
        prompt: the scene description.
        settings: the ``scenes`` section (size, steps, guidance, negative prompt).
        rng: the scene's generator (``scene_rng``); only the diffusion seed is drawn from it.
        generator: the renderer's name (``DiffusersRenderer.name``).

    Returns:
        ``{"generator", "prompt", "seed", "params": {"width", "height", "steps", "guidance_scale", "negative_prompt"}}``.
    """
    return {
        "generator": generator,
        "prompt": prompt,
        "seed": int(rng.integers(0, _SEED_LIMIT)),
        "params": {
            "width": settings.width,
            "height": settings.height,
            "steps": settings.steps,
            "guidance_scale": settings.guidance_scale,
            "negative_prompt": settings.negative_prompt,
        },
    }


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG, as scenes are stored (Pillow's default compression: the same pixels give the same bytes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scene_params(sample: Sample) -> dict[str, Any] | None:
    """The scene a generated sample was rendered from (its only lineage entry); ``None`` for any other sample."""
    if len(sample.lineage) != 1 or sample.lineage[0].op != SCENE_OP:
        return None
    return json.loads(sample.lineage[0].params_json)


def check_rerender(folder: Path, sample_id: str, model_path: Path, device: str = "cpu") -> tuple[bool, str]:
    """Whether generated sample ``sample_id`` of a release or run folder renders again, from its lineage, to its stored bytes.

    Args:
        folder: a release folder, a run folder or a manifest file.
        sample_id: the sample.
        model_path: the diffusers folder its lineage names (only the folder name is recorded).
        device: torch device; the bytes match on the device and machine kind that rendered them.

    Returns:
        ``(ok, detail)``.

    Raises:
        LookupError: when the sample is not in the folder or was not generated.
    """
    sample = find_sample(sample_manifests(folder), sample_id)
    if sample is None:
        raise LookupError(f"sample {sample_id} not in {folder}")
    scene = scene_params(sample)
    if scene is None:
        raise LookupError(f"sample {sample_id} was not generated: its lineage is not one '{SCENE_OP}' entry")
    renderer = DiffusersRenderer(str(model_path), device)
    stored = sample.images[0].sha256
    again = sha256_bytes(png_bytes(renderer.render(scene)))
    described = f"{scene['generator']} seed {scene['seed']} with {renderer.name}"
    if again == stored:
        return True, f"rendered {described}: same bytes as the stored image {stored[:12]}"
    return False, f"rendered {described}: {again[:12]}, the stored image is {stored[:12]}"


class DiffusersRenderer:
    """Images from a local diffusers text-to-image folder of the Stable Diffusion family, loaded lazily once.

    Args:
        model_path: the folder (``model_index.json`` at its root); nothing is downloaded.
        device: torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
    """

    def __init__(self, model_path: str, device: str = "cpu", dtype: str = "float32") -> None:
        self.path = Path(model_path).expanduser()
        index = self.path / "model_index.json"
        if not index.is_file():
            raise SceneModelError(f"scenes.model_path {self.path} has no model_index.json (expected a diffusers pipeline saved locally)")
        pipeline_class = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "DiffusionPipeline")
        self.name = f"diffusers:{pipeline_class}:{self.path.name}"
        self.device = device
        self.dtype = dtype
        self._lock = threading.Lock()
        self._pipeline: Any = None

    def render(self, scene: dict[str, Any]) -> Image.Image:
        """The RGB image of ``scene`` (as ``draw_scene`` drew it); the same scene gives the same pixels."""
        import torch

        pipeline = self._load()
        params = scene["params"]
        generator = torch.Generator(device=self.device).manual_seed(scene["seed"])
        output = pipeline(
            prompt=scene["prompt"],
            negative_prompt=params["negative_prompt"],
            width=params["width"],
            height=params["height"],
            num_inference_steps=params["steps"],
            guidance_scale=params["guidance_scale"],
            generator=generator,
            output_type="pil",
        )
        return output.images[0].convert("RGB")

    def _load(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                import torch
                from diffusers import AutoPipelineForText2Image

                pipeline = AutoPipelineForText2Image.from_pretrained(
                    str(self.path), local_files_only=True, dtype=getattr(torch, self.dtype)
                )
                pipeline.set_progress_bar_config(disable=True)
                self._pipeline = pipeline.to(self.device)
        return self._pipeline
