"""Keep a paraphrase only when it still means what the original meant.

The rule, for each ``(original, candidate)`` pair, in order:

1. a candidate equal to its original (whitespace collapsed) is rejected: it adds nothing;
2. a candidate whose protected spans (markup such as ``<box>``/``<ref>``, numbers, spatial
   words; ``rules.protected_spans``) differ from the original's is rejected, whatever its score;
3. when the scorer can judge both texts (``scorer.is_meaningful``), the candidate is kept if its
   BERTScore F1 against the original is at least ``threshold``;
4. otherwise (Chinese and other text the English MiniLM cannot judge) no score is trusted: the
   candidate is kept only if it has the same ``rules.canonical_form`` as the original, i.e. it
   differs from it only by synonyms listed in the lexicon and by the lexicon's sentence
   templates. Free rewrites of such text (a model's) are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from vlforge.augment.paraphrase.rules import TEMPLATES, Lexicon, TemplateGroup, canonical_form, load_lexicon, protected_spans


class Scorer(Protocol):
    """What the filter needs from a BERTScore scorer (``vlforge.quality.metrics.bertscore.BertScorer``)."""

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]: ...

    def is_meaningful(self, text: str) -> bool: ...


@dataclass(frozen=True)
class KeptParaphrase:
    """A paraphrase that passed the filter.

    Attributes:
        index: position of its original in the input.
        original: the original text.
        paraphrase: the kept paraphrase.
        f1: its BERTScore F1 against the original, ``None`` when kept by the lexicon rule.
        rule: ``"bertscore"`` or ``"lexicon"``, which rule kept it.
    """

    index: int
    original: str
    paraphrase: str
    f1: float | None
    rule: Literal["bertscore", "lexicon"]


def filter_paraphrases(
    originals: list[str],
    candidates: list[str],
    scorer: Scorer,
    threshold: float,
    lexicon: Lexicon | None = None,
    templates: tuple[TemplateGroup, ...] = TEMPLATES,
) -> tuple[list[KeptParaphrase], int]:
    """The candidates that keep their original's meaning (the rule is in the module docstring).

    Args:
        originals: the original texts.
        candidates: one paraphrase per original, same length.
        scorer: gives BERTScore ``(P, R, F1)`` per pair and says which texts it can judge.
        threshold: least F1 for a scored candidate to be kept, in ``[0, 1]``.
        lexicon: for the canonical-form rule; by default the shipped lexicon.
        templates: for the canonical-form rule.

    Returns:
        ``(kept, rejected_count)``: the kept paraphrases in input order and how many were rejected.
    """
    if len(originals) != len(candidates):
        raise ValueError(f"{len(originals)} originals but {len(candidates)} candidate paraphrases")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    lexicon = lexicon or load_lexicon()
    kept: list[KeptParaphrase] = []
    to_score: list[int] = []
    for index, (original, candidate) in enumerate(zip(originals, candidates, strict=True)):
        if " ".join(original.split()) == " ".join(candidate.split()):
            continue
        if protected_spans(original) != protected_spans(candidate):
            continue
        if scorer.is_meaningful(original) and scorer.is_meaningful(candidate):
            to_score.append(index)
        elif canonical_form(original, lexicon, templates) == canonical_form(candidate, lexicon, templates):
            kept.append(KeptParaphrase(index, original, candidate, None, "lexicon"))
    if to_score:
        scores = scorer.score([candidates[index] for index in to_score], [originals[index] for index in to_score])
        for index, (_, _, f1) in zip(to_score, scores, strict=True):
            if f1 >= threshold:
                kept.append(KeptParaphrase(index, originals[index], candidates[index], float(f1), "bertscore"))
    kept.sort(key=lambda item: item.index)
    return kept, len(originals) - len(kept)
