"""A tiny random BERT built offline from a config: a stand-in for a local encoder a recipe names (e.g. for Chinese).

Its weights are random (seeded), so its scores mean nothing; tests use it to check that text
is routed to the encoder covering its language and scored by it, not what the score is.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_bert(folder: Path, texts: list[str], seed: int = 0, num_layers: int = 2) -> Path:
    """Save a randomly initialised BERT and a WordPiece vocabulary of ``texts``' characters and words into ``folder``.

    Args:
        folder: where the Hugging Face model folder is written.
        texts: the texts it will see: each CJK character and each lower-cased word becomes a token.
        seed: seeds the weights.
        num_layers: transformer layers.

    Returns:
        ``folder``.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = sorted({token for text in texts for token in _pieces(text.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, *words]) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(words),
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    BertTokenizer(str(vocab), model_max_length=64).save_pretrained(folder)
    return folder


def _pieces(text: str) -> list[str]:
    """CJK characters one by one (as BertTokenizer splits them), other runs of word characters whole."""
    pieces, word = [], ""
    for char in text:
        if "\u4e00" <= char <= "\u9fff":
            pieces += [word, char] if word else [char]
            word = ""
        elif char.isalnum():
            word += char
        else:
            pieces += [word] if word else []
            word = ""
    return pieces + ([word] if word else [])
