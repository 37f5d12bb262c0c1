"""A BERT encoder and its WordPiece tokenizer run from a model folder with torch, ``tokenizers`` and ``safetensors`` only.

BERTScore reads the token states of a BERT's first ``num_layers`` layers. ``transformers`` computes them
too, but importing its BERT model took 2.7-3 s of the 10 s that ``make run`` spends loading the release
DAG's modules before its first task (its modeling code imports torch's compiler and distributed packages),
and every augment shard that scored paraphrases without that preload paid it again. This module is the
same forward pass, the one ``transformers.BertModel`` runs in inference, with the weights read from the
folder's ``model.safetensors``, and the folder's own ``tokenizer.json`` run by the ``tokenizers`` library
that ``transformers``' BERT tokenizer also runs. The tests hold both to ``transformers`` on the shipped
MiniLM and on a random BERT: the same token ids, and token states equal to 1e-12 in float64.

``plain_bert`` says whether a folder is such a BERT (``model_type`` ``bert``, absolute positions, exact
GELU, ``model.safetensors`` and ``tokenizer.json``); ``vlforge.quality.metrics.bertscore`` loads any other
encoder through ``transformers``' ``AutoModel``, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"


def plain_bert(model_path: str | Path) -> bool:
    """Whether ``model_path`` holds a BERT this module runs exactly as ``transformers.BertModel`` does."""
    folder = Path(model_path)
    config_file = folder / "config.json"
    if not (config_file.is_file() and (folder / WEIGHTS).is_file() and (folder / TOKENIZER).is_file()):
        return False
    config = json.loads(config_file.read_text(encoding="utf-8"))
    return (
        config.get("model_type") == "bert"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act", "gelu") == "gelu"
    )


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.self = nn.ModuleDict({name: nn.Linear(hidden, hidden) for name in ("query", "key", "value")})
        self.output = nn.ModuleDict({"dense": nn.Linear(hidden, hidden), "LayerNorm": nn.LayerNorm(hidden, eps=eps)})

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape
        query, key, value = (
            self.self[name](hidden).view(batch, length, self.heads, width // self.heads).transpose(1, 2)
            for name in ("query", "key", "value")
        )
        context = functional.scaled_dot_product_attention(query, key, value, scale=1 / math.sqrt(width // self.heads))
        context = context.transpose(1, 2).reshape(batch, length, width)
        return self.output["LayerNorm"](self.output["dense"](context) + hidden)


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = _Attention(hidden, heads, eps)
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(hidden, intermediate)})
        self.output = nn.ModuleDict({"dense": nn.Linear(intermediate, hidden), "LayerNorm": nn.LayerNorm(hidden, eps=eps)})

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden)
        expanded = functional.gelu(self.intermediate["dense"](attended))
        return self.output["LayerNorm"](self.output["dense"](expanded) + attended)


class BertEncoder(nn.Module):
    """BERT's embeddings and its first layers; ``forward`` maps ``(batch, length)`` token ids without padding to their states.

    Module names follow ``transformers.BertModel``'s, so its checkpoints load by name.
    """

    def __init__(self, config: dict[str, Any], num_layers: int) -> None:
        super().__init__()
        hidden, eps = config["hidden_size"], config.get("layer_norm_eps", 1e-12)
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(config["vocab_size"], hidden),
                "position_embeddings": nn.Embedding(config["max_position_embeddings"], hidden),
                "token_type_embeddings": nn.Embedding(config.get("type_vocab_size", 2), hidden),
                "LayerNorm": nn.LayerNorm(hidden, eps=eps),
            }
        )
        layer = (hidden, config["num_attention_heads"], config["intermediate_size"], eps)
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(_Layer(*layer) for _ in range(num_layers))})

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        embeddings = self.embeddings
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # Token type 0 for every token, added in transformers' order (word + type, then position).
        hidden = embeddings["word_embeddings"](input_ids) + embeddings["token_type_embeddings"].weight[0]
        hidden = embeddings["LayerNorm"](hidden + embeddings["position_embeddings"](positions))
        for layer in self.encoder["layer"]:
            hidden = layer(hidden)
        return hidden


def load_bert_encoder(model_path: str | Path, num_layers: int, dtype: torch.dtype, device: str) -> BertEncoder:
    """The folder's BERT with its first ``num_layers`` layers, in eval mode.

    Raises:
        ValueError: ``num_layers`` out of range, or the checkpoint lacks a weight the kept layers need.
    """
    from safetensors.torch import load_file

    folder = Path(model_path)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not 0 <= num_layers <= config["num_hidden_layers"]:
        raise ValueError(f"num_layers must be between 0 and {config['num_hidden_layers']} for {folder}, got {num_layers}")
    weights = load_file(str(folder / WEIGHTS))
    if "bert.embeddings.word_embeddings.weight" in weights:  # saved from a BertFor... model: its BERT, not its head
        weights = {name.removeprefix("bert."): tensor for name, tensor in weights.items() if name.startswith("bert.")}
    encoder = BertEncoder(config, num_layers)
    wanted = encoder.state_dict()
    missing = sorted(set(wanted) - set(weights))
    if missing:
        raise ValueError(f"{folder / WEIGHTS}: no weight {missing[0]} ({len(missing)} missing) for a {num_layers}-layer BERT")
    encoder.load_state_dict({name: weights[name] for name in wanted})
    return encoder.eval().to(device=device, dtype=dtype)


@dataclass(frozen=True)
class WordPieceTokenizer:
    """The folder's ``tokenizer.json``, each text with ``[CLS] ... [SEP]``, cut to ``max_length`` tokens, no padding."""

    tokenizer: Any  # tokenizers.Tokenizer
    cls_token_id: int
    sep_token_id: int

    @classmethod
    def from_folder(cls, model_path: str | Path) -> WordPieceTokenizer:
        """``model_path``'s tokenizer, cut at its ``model_max_length`` or the model's positions, whichever is fewer."""
        from tokenizers import Tokenizer

        folder = Path(model_path)
        settings_file, config_file = folder / "tokenizer_config.json", folder / "config.json"
        settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        # tokenizer.json may carry its own padding and a shorter cut (sentence-transformers saves 128); bert-score
        # pads nothing here and cuts at the tokenizer's model_max_length, which some folders leave out or set
        # to transformers' "no limit" (1e30): then at the positions the model has.
        tokenizer.no_padding()
        positions = int(config.get("max_position_embeddings", 512))
        tokenizer.enable_truncation(max_length=min(int(settings.get("model_max_length", positions)), positions))
        ids = [
            tokenizer.token_to_id(settings.get(name, default))
            for name, default in (("cls_token", "[CLS]"), ("sep_token", "[SEP]"))
        ]
        if None in ids:
            raise ValueError(f"{folder / TOKENIZER}: no [CLS] or [SEP] token in its vocabulary")
        return cls(tokenizer, ids[0], ids[1])

    def encode(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token ids of each text."""
        return [tuple(encoding.ids) for encoding in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]
