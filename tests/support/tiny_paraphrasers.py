"""Test support: tiny, randomly initialised paraphrase models (T5 seq2seq, GPT-2 causal), built offline.

The tokenizer is a word-level ``tokenizers`` tokenizer over a small fixed vocabulary (plus
``[UNK]``), wrapped as ``PreTrainedTokenizerFast`` and saved with ``save_pretrained``, so
``vlforge.augment.paraphrase.model`` loads the folder by the same code path it loads a
downloaded model by. Weights are random: outputs are noise. Nothing is downloaded. Importing
this module imports neither torch nor transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

VOCABULARY = (
    "paraphrase : a an the image picture photo shows depicts dog cat man woman on in with red blue "
    "green is are of and sitting walking left right grass street car . , ? what"
).split()
SPECIALS = ("<pad>", "</s>", "<unk>")


def _tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate((*SPECIALS, *VOCABULARY))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def build_tiny_paraphraser(folder: Path, kind: Literal["seq2seq", "causal"], seed: int = 0) -> Path:
    """Save a tiny random T5 (``seq2seq``) or GPT-2 (``causal``) model with its tokenizer into ``folder``.

    Args:
        folder: where to save it (created).
        kind: ``"seq2seq"`` for T5, ``"causal"`` for GPT-2.
        seed: torch seed for the random weights.

    Returns:
        ``folder``.
    """
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    folder = Path(folder)
    tokenizer = _tokenizer()
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    torch.manual_seed(seed)
    if kind == "seq2seq":
        config = T5Config(
            vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
            pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad,
        )
        model = T5ForConditionalGeneration(config)
    elif kind == "causal":
        config = GPT2Config(
            vocab_size=len(tokenizer), n_positions=128, n_embd=16, n_layer=1, n_head=2,
            bos_token_id=eos, eos_token_id=eos, pad_token_id=pad,
        )
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(f"kind must be 'seq2seq' or 'causal', got {kind!r}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
