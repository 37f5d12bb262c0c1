"""Paraphrasing of captions, questions and answers, behind one protocol, with a meaning filter.

Backends (``Paraphraser.paraphrase(texts, rng) -> texts``):

- ``RuleParaphraser`` (``rules.py``): synonym substitution and sentence templates for English
  and Chinese from a hand-written lexicon shipped as package data; never changes markup,
  numbers or spatial words;
- ``TransformersParaphraser`` (``model.py``): a seq2seq or causal language model loaded from a
  local folder (``local_files_only=True``).

``filter_paraphrases`` (``filter.py``) keeps a paraphrase only when its BERTScore F1 against the
original reaches a threshold, with a lexicon rule for text BERTScore cannot judge.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vlforge.augment.paraphrase.filter import KeptParaphrase, Scorer, filter_paraphrases
from vlforge.augment.paraphrase.model import ParaphraseModelError, TransformersParaphraser
from vlforge.augment.paraphrase.rules import Lexicon, LexiconError, RuleParaphraser, canonical_form, load_lexicon, protected_spans


@runtime_checkable
class Paraphraser(Protocol):
    """A paraphrasing backend: one paraphrase per text, randomness only from ``rng``."""

    def paraphrase(self, texts: list[str], rng: np.random.Generator) -> list[str]: ...


__all__ = [
    "KeptParaphrase",
    "Lexicon",
    "LexiconError",
    "ParaphraseModelError",
    "Paraphraser",
    "RuleParaphraser",
    "Scorer",
    "TransformersParaphraser",
    "canonical_form",
    "filter_paraphrases",
    "load_lexicon",
    "protected_spans",
]
