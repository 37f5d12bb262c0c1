"""Paraphrasing with a local transformers language model: seq2seq (T5, BART, ...) or causal (GPT-2, Qwen, ...).

The model and tokenizer are read from a local folder only (``local_files_only=True``, no hub),
on first use, once per ``TransformersParaphraser``. ``kind="auto"`` reads ``is_encoder_decoder``
from the folder's ``config.json``: ``AutoModelForSeq2SeqLM`` when true, else
``AutoModelForCausalLM``. Each text is put into ``prompt`` (``{text}`` marks where) and generated
on its own (no padding); a causal model's answer is the generated continuation only.

With ``sample=True`` each text gets a torch seed drawn from the ``numpy.random.Generator``
passed in, used inside ``torch.random.fork_rng`` so the process's global torch RNG is left
alone: the same generator state gives the same paraphrases. With ``sample=False`` generation
is greedy and ``rng`` is not used.

A model's output is returned as generated; ``filter_paraphrases`` rejects outputs that change
protected spans or drift in meaning. torch and transformers are imported when the model is
loaded, never when this module is.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

ModelKind = Literal["auto", "seq2seq", "causal"]


class ParaphraseModelError(RuntimeError):
    """The configured paraphrase model folder cannot be used; the message names the folder and why."""


class TransformersParaphraser:
    """A paraphrasing backend on a local transformers model.

    Args:
        path: the local model folder (``config.json``, weights, tokenizer files).
        kind: ``"seq2seq"``, ``"causal"`` or ``"auto"`` (from ``config.json``).
        prompt: the model input; ``{text}`` is replaced by the text.
        max_new_tokens: most tokens generated per text.
        sample: sample (seeded from ``rng``) instead of greedy decoding.
        temperature: sampling temperature.
        top_p: nucleus sampling mass.
        device: torch device.
    """

    def __init__(
        self,
        path: str | Path,
        kind: ModelKind = "auto",
        prompt: str = "paraphrase: {text}",
        max_new_tokens: int = 64,
        sample: bool = True,
        temperature: float = 1.0,
        top_p: float = 0.95,
        device: str = "cpu",
    ) -> None:
        if kind not in ("auto", "seq2seq", "causal"):
            raise ValueError(f"kind must be 'auto', 'seq2seq' or 'causal', got {kind!r}")
        if "{text}" not in prompt:
            raise ValueError(f"prompt must contain {{text}}, got {prompt!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self.path = Path(path)
        self.kind = kind
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.sample = sample
        self.temperature = temperature
        self.top_p = top_p
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._resolved_kind: str | None = None

    @property
    def resolved_kind(self) -> str:
        """``"seq2seq"`` or ``"causal"``, as loaded (reads ``config.json`` for ``"auto"``)."""
        if self._resolved_kind is None:
            self._resolved_kind = resolve_kind(self.path, self.kind)
        return self._resolved_kind

    def paraphrase(self, texts: list[str], rng: np.random.Generator) -> list[str]:
        """One generated paraphrase per text.

        Args:
            texts: the texts.
            rng: seeds each text's sampling (unused when ``sample=False``).

        Returns:
            The decoded generations, stripped, in order.
        """
        import torch

        model, tokenizer = self._load()
        results: list[str] = []
        for text in texts:
            seed = int(rng.integers(0, 2**31 - 1)) if self.sample else 0
            inputs = tokenizer(self.prompt.format(text=text), return_tensors="pt").to(self.device)
            settings: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.sample}
            if self.sample:
                settings |= {"temperature": self.temperature, "top_p": self.top_p, "top_k": 0}
            if tokenizer.pad_token_id is not None:
                settings["pad_token_id"] = tokenizer.pad_token_id
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(seed)
                output = model.generate(**inputs, **settings)
            generated = output[0] if self.resolved_kind == "seq2seq" else output[0, inputs["input_ids"].shape[1] :]
            results.append(tokenizer.decode(generated, skip_special_tokens=True).strip())
        return results

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                self._tokenizer, self._model = load_paraphrase_model(self.path, self.resolved_kind, self.device)
        return self._model, self._tokenizer


def resolve_kind(path: Path, kind: ModelKind) -> str:
    """``kind``, or for ``"auto"`` the kind ``config.json`` declares (``is_encoder_decoder``).

    Raises:
        ParaphraseModelError: the folder or its ``config.json`` is missing or unreadable.
    """
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise ParaphraseModelError(
            f"paraphrase model folder {path} has no config.json (expected a transformers model saved locally)"
        )
    if kind != "auto":
        return kind
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ParaphraseModelError(f"{config_file} is not valid JSON: {error}") from error
    return "seq2seq" if config.get("is_encoder_decoder") else "causal"


def load_paraphrase_model(path: Path, kind: str, device: str = "cpu") -> tuple[Any, Any]:
    """The tokenizer and model in ``path`` (local files only), the model in eval mode on ``device``.

    Args:
        path: the model folder.
        kind: ``"seq2seq"`` or ``"causal"``.
        device: torch device.

    Returns:
        ``(tokenizer, model)``.

    Raises:
        ParaphraseModelError: transformers cannot load the folder (the message names it and the cause).
    """
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    model_class = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = model_class.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise ParaphraseModelError(f"cannot load a {kind} paraphrase model from {path}: {error}") from error
    return tokenizer, model.to(device).eval()
