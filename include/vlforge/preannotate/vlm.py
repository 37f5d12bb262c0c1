"""A local Qwen2-VL / Qwen2.5-VL / Qwen3-VL model that captions images and proposes boxes.

The model is read with ``transformers`` from a local folder only (``local_files_only=True``, no
hub), loaded on first use and kept for the rest of the process. Generation is greedy. Answers
go through ``vlforge.preannotate.parsing``, which reads each generation's box convention.

torch and transformers are imported when the model is loaded, never when this module is.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from vlforge.preannotate.config import VlmConfig
from vlforge.preannotate.parsing import JsonConvention, clean_caption, parse_grounding
from vlforge.records import Box

logger = logging.getLogger(__name__)

# model_type in config.json -> the backend whose box convention the model's answers follow.
MODEL_TYPES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl", "qwen3_vl_moe": "qwen3_vl"}
JSON_CONVENTIONS: dict[str, JsonConvention] = {
    "qwen2_vl": "relative_1000",
    "qwen2_5_vl": "resized_absolute",
    "qwen3_vl": "relative_1000",
}
GROUNDING_PROMPTS = {
    "qwen2_vl": "Detect every object in the image and output the bounding box of each with its name.",
    "qwen2_5_vl": "Locate every object in the image and output the bbox coordinates in JSON format.",
    "qwen3_vl": "Locate every object in the image and report bbox coordinates in JSON format.",
}
_END_TOKENS = ("<|im_end|>", "<|endoftext|>")
# Placeholders for pixels: an answer must never contain them (a new one would ask for image features).
_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


class VlmError(RuntimeError):
    """The configured model folder cannot be used (the message says why and what is expected)."""


class Vlm(Protocol):
    """What pre-annotation needs from a vision-language model."""

    model_version: str

    def caption(self, image: Image.Image) -> str: ...

    def ground(self, image: Image.Image) -> list[Box]: ...


@dataclass(frozen=True)
class Answer:
    """A decoded answer and the size of the (first) image the model saw (``(width, height)``)."""

    text: str
    resized_size: tuple[int, int]
    resized_sizes: tuple[tuple[int, int], ...] = ()  # every image's, in order (``chat``)


class QwenVlm:
    """Captions and boxes from a local Qwen-VL model, loaded lazily once.

    Args:
        config: the ``preannotate.vlm`` section; ``model_path`` must be set.
    """

    def __init__(self, config: VlmConfig) -> None:
        if not config.model_path:
            raise VlmError("preannotate.vlm.model_path is not set")
        self.config = config
        self.path = Path(config.model_path).expanduser()
        self.backend = _backend(self.path, config.backend)
        self.model_version = f"{self.backend}:{self.path.name}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._processor: Any = None

    def caption(self, image: Image.Image) -> str:
        """A caption of the whole image (empty when the model says nothing readable)."""
        return clean_caption(self.ask(image, self.config.caption_prompt).text)

    def ground(self, image: Image.Image) -> list[Box]:
        """Boxes with labels, in pixels of ``image``; empty when the answer holds none (the reason is logged)."""
        prompt = self.config.grounding_prompt or GROUNDING_PROMPTS[self.backend]
        answer = self.ask(image, prompt)
        width, height = image.size
        return parse_grounding(answer.text, width, height, JSON_CONVENTIONS[self.backend], answer.resized_size)

    def ask(self, image: Image.Image, prompt: str) -> Answer:
        """One greedy answer to ``prompt`` about ``image``, special tokens kept, cut at the end of turn."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return self.chat([messages], [[image]])[0]

    def chat(self, conversations: list[list[dict[str, Any]]], images: list[list[Image.Image]]) -> list[Answer]:
        """Greedy answers to several conversations at once (one padded batch), special tokens kept.

        Args:
            conversations: chat messages in the transformers form, each content a string or a list of
                ``{"type": "image"}`` and ``{"type": "text", "text": ...}`` parts; each ends with a user turn.
            images: each conversation's images, one per ``{"type": "image"}`` part, in order.

        Returns:
            One answer per conversation, cut at the end of turn, with the size each of its images was resized to.
        """
        import torch

        model, processor = self._load()
        texts = [processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) for messages in conversations]
        flat = [image.convert("RGB") for group in images for image in group]
        # Left padding: every prompt of the batch then ends where its answer starts.
        processor.tokenizer.padding_side = "left"
        inputs = processor(text=texts, images=flat or None, padding=True, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=self.config.max_new_tokens,
                do_sample=False,
                suppress_tokens=_vision_token_ids(processor.tokenizer),
            )
        decoded = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=False)
        patch = int(processor.image_processor.patch_size)
        grids = [(int(w) * patch, int(h) * patch) for _, h, w in inputs["image_grid_thw"].tolist()] if flat else []
        answers = []
        for text, group in zip(decoded, images, strict=True):
            for token in _END_TOKENS:
                text = text.split(token, 1)[0]
            sizes, grids = tuple(grids[: len(group)]), grids[len(group) :]
            answers.append(Answer(text=text.strip(), resized_size=sizes[0] if sizes else (0, 0), resized_sizes=sizes))
        return answers

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                self._processor = load_processor(self.path, self.config)
                self._model = load_model(self.path, self.config)
        return self._model, self._processor


def _vision_token_ids(tokenizer: Any) -> list[int]:
    ids = [tokenizer.convert_tokens_to_ids(token) for token in _VISION_TOKENS]
    return [token_id for token_id in ids if isinstance(token_id, int) and token_id != tokenizer.unk_token_id]


def _backend(path: Path, configured: str) -> str:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise VlmError(f"VLM model folder {path} has no config.json (expected a transformers model saved locally)")
    if configured != "auto":
        return configured
    model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    if model_type not in MODEL_TYPES:
        raise VlmError(
            f"model_type {model_type!r} in {config_file} is not a supported Qwen-VL model; "
            f"supported: {sorted(MODEL_TYPES)} (or set preannotate.vlm.backend)"
        )
    return MODEL_TYPES[model_type]


def load_model(path: Path, config: VlmConfig) -> Any:
    """The model in ``path`` as ``AutoModelForImageTextToText`` (Qwen2VLForConditionalGeneration and kin), in eval mode."""
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = config.dtype if config.dtype == "auto" else getattr(torch, config.dtype)
    model = AutoModelForImageTextToText.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    return model.to(config.device).eval()


def load_processor(path: Path, config: VlmConfig) -> Any:
    """The model's processor: ``AutoProcessor``, or its image-only equivalent where that cannot load.

    transformers 5 builds every Qwen-VL processor with a video processor, which needs torchvision;
    without it ``AutoProcessor`` raises (ImportError for Qwen2-VL and Qwen2.5-VL's
    ``Qwen2VLVideoProcessor``, ValueError "requires `torchvision`" for Qwen3-VL's) and the same
    tokenizer, image processor and chat template are put together by ``ImageOnlyQwenProcessor``
    (images only, same prompts). Any other error is raised.
    """
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
    except (ImportError, ValueError) as error:
        if isinstance(error, ValueError) and "torchvision" not in str(error):
            raise
        from vlforge.preannotate.qwen_processor import ImageOnlyQwenProcessor

        logger.info("AutoProcessor unavailable (%s); using the image-only Qwen-VL processor", str(error).strip().splitlines()[0])
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        image_processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        processor = ImageOnlyQwenProcessor(image_processor, tokenizer, chat_template=tokenizer.chat_template)
    if config.min_pixels or config.max_pixels:
        size = dict(processor.image_processor.size)
        size["shortest_edge"] = config.min_pixels or size["shortest_edge"]
        size["longest_edge"] = config.max_pixels or size["longest_edge"]
        processor.image_processor.size = type(processor.image_processor.size)(**size)
    if not processor.chat_template:
        raise VlmError(f"VLM model folder {path} has no chat template (chat_template.jinja or chat_template.json)")
    return processor


_CACHE: dict[VlmConfig, QwenVlm] = {}
_CACHE_LOCK = threading.Lock()


def shared_vlm(config: VlmConfig) -> QwenVlm:
    """One ``QwenVlm`` per configuration and process, so a worker loads each model once."""
    with _CACHE_LOCK:
        if config not in _CACHE:
            _CACHE[config] = QwenVlm(config)
        return _CACHE[config]
