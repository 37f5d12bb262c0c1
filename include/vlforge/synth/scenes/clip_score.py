"""Prompt agreement: the cosine similarity of a local CLIP model's image and text embeddings.

CLIP ViT-B/32 gives matching photo-caption pairs roughly 0.25-0.35 and unrelated pairs roughly
0.1-0.2, so ``scenes.clip_threshold`` (default 0.2) sits between them; calibrate it for another
CLIP. torch and transformers are imported when the model is loaded, never when this module is.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlforge.synth.scenes.render import SceneModelError


class ClipScorer:
    """Image-text cosine similarity from a local transformers ``CLIPModel`` and its ``CLIPProcessor``, loaded lazily once.

    Args:
        model_path: the folder (``config.json``, weights, tokenizer, image processor); nothing is downloaded.
        device: torch device.
        key: the recipe key that named the folder, for errors (the scenes DAG's, or ``evaluate.clip_model_path``).
    """

    def __init__(self, model_path: str, device: str = "cpu", key: str = "scenes.clip_model_path") -> None:
        self.path = Path(model_path).expanduser()
        if not (self.path / "config.json").is_file():
            raise SceneModelError(f"{key} {self.path} has no config.json (expected a CLIP model saved locally)")
        self.device = device
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def similarity(self, images: list[Image.Image], texts: list[str]) -> list[float]:
        """The cosine similarity of each image with the text at the same position (texts longer than CLIP reads are cut).

        Raises:
            ValueError: when the lists differ in length.
        """
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts: each image is scored against one text")
        if not images:
            return []
        image_embeds, text_embeds = self.embeddings(images, texts)
        return [float(value) for value in (image_embeds * text_embeds).sum(axis=-1)]

    def embeddings(self, images: list[Image.Image], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unit-length image and text embeddings, one row per input in order (for retrieval over many pairs).

        Returns:
            ``(images x d, texts x d)`` float32 arrays.

        Raises:
            ValueError: when either list is empty (CLIPModel's forward pass needs both).
        """
        import torch

        if not images or not texts:
            raise ValueError(f"{len(images)} images and {len(texts)} texts: CLIP embeds at least one of each at a time")
        model, processor = self._load()
        inputs = processor(text=texts, images=[image.convert("RGB") for image in images], return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            output = model(**inputs.to(self.device))
        # CLIPModel returns both embeddings already scaled to unit length.
        return output.image_embeds.float().cpu().numpy(), output.text_embeds.float().cpu().numpy()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                from transformers import CLIPModel, CLIPProcessor

                model = CLIPModel.from_pretrained(str(self.path), local_files_only=True).to(self.device).eval()
                self._loaded = (model, CLIPProcessor.from_pretrained(str(self.path), local_files_only=True))
        return self._loaded
