"""One interface, two backends: ask a VLM the release's prompts and get its raw answers back.

``make_backend(config).answer(prompts)`` returns one ``Reply`` per prompt, in order, and never raises for
one prompt's failure: the reply carries the error instead, so that one bad sample does not stop a shard.

- ``TransformersBackend``: a local Qwen-VL folder through ``vlforge.preannotate.vlm.QwenVlm`` (loaded once
  per process), ``batch_size`` prompts per padded ``generate``. It reads images; a prompt with a video gets
  an error reply (transformers' Qwen-VL video processors need torchvision, which vlforge does not install).
- ``OpenAIBackend``: ``POST {base_url}/chat/completions`` with httpx, images and videos as base64 data URLs
  in ``image_url`` / ``video_url`` content parts (the OpenAI vision schema vLLM, SGLang and LMDeploy accept),
  greedy (``temperature`` 0), at most ``batch_size`` requests in flight. A timeout, a connection error,
  HTTP 429 or 5xx is retried ``retries`` times after ``backoff_s``, doubling each time; then the reply is
  an error. A 200 whose body is not a ``chat.completion`` with a text message is a *malformed* reply: it
  is scored as an unreadable answer, not retried.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.prompts import Prompt

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# generation -> the preannotate backend whose model classes and conventions load it (Qwen-VL's tags: Qwen2-VL).
LOCAL_BACKENDS = {"qwen_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl"}


@dataclass(frozen=True)
class Reply:
    """A model's answer to one prompt.

    Args:
        text: the answer (``""`` for a malformed response); ``None`` when no answer came (``error`` says why).
        error: what went wrong, or ``""``.
        resized_sizes: ``(width, height)`` each image was resized to, when the backend knows it (a local model).
    """

    text: str | None
    error: str = ""
    resized_sizes: tuple[tuple[int, int], ...] = ()


class ModelBackend(Protocol):
    def answer(self, prompts: list[Prompt]) -> list[Reply]: ...


def make_backend(config: ModelBackendConfig) -> ModelBackend:
    if config.kind == "openai":
        return OpenAIBackend(config)
    return TransformersBackend(config)


class TransformersBackend:
    """A local Qwen-VL model, prompts answered ``batch_size`` at a time."""

    def __init__(self, config: ModelBackendConfig) -> None:
        from vlforge.preannotate.config import VlmConfig
        from vlforge.preannotate.vlm import shared_vlm

        self.config = config
        self.vlm = shared_vlm(
            VlmConfig(
                model_path=config.model_path,
                backend=LOCAL_BACKENDS[config.generation],  # type: ignore[arg-type]
                max_new_tokens=config.max_new_tokens,
                device=config.device,
                dtype=config.dtype,
            )
        )

    def answer(self, prompts: list[Prompt]) -> list[Reply]:
        replies: dict[int, Reply] = {}
        askable: list[tuple[int, list[Any]]] = []
        for index, prompt in enumerate(prompts):
            if prompt.media("video"):
                replies[index] = Reply(None, "video prompt: the local transformers backend reads images only (no torchvision)")
                continue
            try:
                askable.append((index, _read_images(prompt)))
            except OSError as error:
                replies[index] = Reply(None, f"image unreadable: {error}")
        for start in range(0, len(askable), self.config.batch_size):
            batch = askable[start : start + self.config.batch_size]
            answered = self._batch([prompts[index] for index, _ in batch], [images for _, images in batch])
            replies.update(zip([index for index, _ in batch], answered, strict=True))
        return [replies[index] for index in range(len(prompts))]

    def _batch(self, prompts: list[Prompt], images: list[list[Any]]) -> list[Reply]:
        conversations = [
            [
                {
                    "role": message.role,
                    "content": [{"type": "image"} if part.kind == "image" else {"type": "text", "text": part.value} for part in message.parts],
                }
                for message in prompt.messages
            ]
            for prompt in prompts
        ]
        try:
            answers = self.vlm.chat(conversations, images)
        except (ValueError, RuntimeError) as error:
            # A prompt the processor refuses, or a device out of memory: asked one by one, only the prompts
            # that fail alone are errors, and the run goes on.
            if len(prompts) > 1:
                return [reply for prompt, group in zip(prompts, images, strict=True) for reply in self._batch([prompt], [group])]
            logger.warning("local model failed on sample %s: %s", prompts[0].sample_id, error)
            return [Reply(None, f"local model failed: {type(error).__name__}: {str(error)[:200]}")]
        return [Reply(answer.text, resized_sizes=answer.resized_sizes) for answer in answers]


def _read_images(prompt: Prompt) -> list[Any]:
    """The prompt's images as RGB PIL images, in order."""
    from PIL import Image

    group = []
    for path in prompt.media("image"):
        with Image.open(path) as image:
            group.append(image.convert("RGB"))
    return group


def data_url(path: str) -> str:
    """A media file as a ``data:`` URL (its MIME type from the file name)."""
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def openai_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """The prompt in the OpenAI chat schema: text, ``image_url`` and ``video_url`` parts."""
    messages = []
    for message in prompt.messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if part.kind == "text":
                content.append({"type": "text", "text": part.value})
            else:
                key = f"{part.kind}_url"
                content.append({"type": key, key: {"url": data_url(part.value)}})
        messages.append({"role": message.role, "content": content})
    return messages


def completion_text(body: Any) -> str | None:
    """The first choice's message text of a ``chat.completion`` body; None when the body has none."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


class OpenAIBackend:
    """An OpenAI-compatible endpoint, at most ``batch_size`` requests at a time, each retried with backoff."""

    def __init__(self, config: ModelBackendConfig) -> None:
        self.config = config
        self.url = f"{str(config.base_url).rstrip('/')}/chat/completions"

    def answer(self, prompts: list[Prompt]) -> list[Reply]:
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        limits = httpx.Limits(max_connections=self.config.batch_size)
        with (
            httpx.Client(timeout=self.config.timeout_s, headers=headers, limits=limits) as client,
            ThreadPoolExecutor(max_workers=self.config.batch_size) as pool,
        ):
            return list(pool.map(lambda prompt: self._ask(client, prompt), prompts))

    def _ask(self, client: httpx.Client, prompt: Prompt) -> Reply:
        try:
            payload = {
                "model": self.config.served_model,
                "messages": openai_messages(prompt),
                "max_tokens": self.config.max_new_tokens,
                "temperature": 0,
            }
        except OSError as error:
            return Reply(None, f"media unreadable: {error}")
        failure = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                response = client.post(self.url, json=payload)
            except httpx.TimeoutException as error:
                failure = f"timeout after {self.config.timeout_s}s ({type(error).__name__})"
                continue
            except httpx.TransportError as error:
                failure = f"connection error: {type(error).__name__}: {error}"
                continue
            if response.status_code in RETRY_STATUSES:
                failure = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                return Reply(None, f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                text = completion_text(response.json())
            except ValueError:
                text = None
            if text is None:
                return Reply("", f"malformed response: {response.text[:200]}")
            return Reply(text)
        return Reply(None, f"{failure} (after {self.config.retries + 1} attempts)")
