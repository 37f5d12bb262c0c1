"""vlforge's BERTScore equals bert_score.score with the packaged MiniLM, whatever the batching."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from vlforge.quality.metrics.bertscore import (
    NUM_LAYERS,
    BertScorer,
    default_model_path,
    f1_score,
    is_meaningful,
    scorer_threads,
)

# Loads the packaged MiniLM, and bert_score's own copy of it. bert_score (and the matplotlib it imports) is imported
# inside the tests: at module level it would add over a second to every collection, `make test-fast`'s included.
pytestmark = pytest.mark.slow

LONG = " ".join(["a crowded harbour with fishing boats, gulls and stacked crates of ice"] * 60)  # > 512 tokens
CANDIDATES = [
    "A dog runs along the beach.",
    "a cat sleeping on a grey sofa",
    "A dog runs along the beach.",  # a repeated pair
    "Two people walk past a row of parked bicycles under a cloudy sky in the late afternoon.",
    "A RED CAR parked in front of a brick wall .",  # case and spacing differ from the reference only
    "A man.",
    "The stop sign at the corner of the street is partly covered by the branches of a tree",
    "A bowl of fruit on a kitchen counter",
    "A bowl of fruit on a kitchen counter",  # same text, other reference
    "The sign reads 停车场 in red letters",
    LONG,
    "x",
]
REFERENCES = [
    "A dog is running on the seashore.",
    "a cat sleeping on a grey sofa",  # identical pair
    "A dog is running on the seashore.",
    "People walking.",
    "a red car parked in front of a brick wall.",
    "A woman riding a horse across a snowy mountain road while two children watch from a fence",
    "A stop sign.",
    "Fruit in a bowl",
    "A passenger train crossing a river",
    "A parking sign",
    "A harbour with boats.",
    "y z",
]


@pytest.fixture(scope="module")
def scorer() -> BertScorer:
    return BertScorer()


def _bert_score(candidates: list[str], references: list[str]) -> np.ndarray:
    import bert_score

    precision, recall, f1 = bert_score.score(
        candidates, references, model_type=default_model_path(), num_layers=NUM_LAYERS
    )
    return np.stack([precision.numpy(), recall.numpy(), f1.numpy()], axis=1)


def test_equals_bert_score(scorer: BertScorer) -> None:
    ours = np.array(scorer.score(CANDIDATES, REFERENCES))
    expected = _bert_score(CANDIDATES, REFERENCES)
    assert_allclose(ours, expected, atol=1e-4)
    assert ours[1] == pytest.approx((1.0, 1.0, 1.0))
    assert ours[4] == pytest.approx((1.0, 1.0, 1.0))  # uncased model, same tokens
    # 12 pairs: one repeats the first, and two score 1 (identical, identical but for case): 10 distinct F1s
    assert len({round(row[2], 4) for row in ours}) == 10


def test_a_pair_scores_as_bert_score_scores_it_in_a_padded_batch(scorer: BertScorer) -> None:
    """bert-score's own result for a pair depends on its batch; vlforge takes the padded one, always."""
    candidate = "A man."
    reference = "A woman riding a horse across a snowy mountain road while two children watch from a fence"
    longer = "Two people walk past a row of parked bicycles under a cloudy sky in the late afternoon today."
    alone = _bert_score([candidate], [reference])[0]
    padded = _bert_score([candidate, longer], [reference, "x"])[0]
    assert padded[1] > alone[1] + 0.005  # recall: some reference tokens' best real cosine is negative
    (ours,) = scorer.score([candidate], [reference])
    assert_allclose(ours, padded, atol=1e-4)
    assert scorer.score([candidate, longer], [reference, "x"])[0] == pytest.approx(ours, abs=1e-6)


def _bert_score_tokenizer():  # noqa: ANN202 - a transformers tokenizer
    import bert_score.utils

    return bert_score.utils.get_tokenizer(default_model_path(), use_fast=False)


def test_token_ids_are_bert_scores(scorer: BertScorer) -> None:
    import bert_score.utils

    texts = [*CANDIDATES, *REFERENCES, "  padded  ", "naïve café", "我们去公园", "left [SEP] right", "tab\there\x00", "emoji 🐶"]
    tokenizer = _bert_score_tokenizer()
    assert scorer.encode(texts) == [tuple(bert_score.utils.sent_encode(tokenizer, text)) for text in texts]
    assert len(scorer.encode([LONG])[0]) == tokenizer.model_max_length == 512


def test_results_do_not_depend_on_batch_size(scorer: BertScorer) -> None:
    short = [i for i, text in enumerate(CANDIDATES) if text != LONG]  # keeps batch size 1 quick
    candidates, references = [CANDIDATES[i] for i in short], [REFERENCES[i] for i in short]
    expected = np.array(scorer.score(candidates, references))
    for batch_size in (1, 3):
        got = np.array(BertScorer(batch_size=batch_size).score(candidates, references))
        assert_allclose(got, expected, atol=1e-5)


def test_results_do_not_depend_on_what_else_is_scored(scorer: BertScorer) -> None:
    alone = scorer.score(CANDIDATES[:1], REFERENCES[:1])
    together = scorer.score(CANDIDATES[::-1], REFERENCES[::-1])
    assert alone[0] == pytest.approx(together[-1], abs=1e-5)


def test_empty_text_scores_zero_as_bert_score_intends(scorer: BertScorer, monkeypatch: pytest.MonkeyPatch) -> None:
    import bert_score.utils

    candidates = ["", "A dog on the beach.", "   ", "A cat."]
    references = ["A dog on the beach.", "", "", "A cat on a sofa."]
    ours = scorer.score(candidates, references)
    assert ours[:3] == [(0.0, 0.0, 0.0)] * 3

    # bert-score 0.3.13 encodes "" as [CLS][SEP] via build_inputs_with_special_tokens, which transformers 5's
    # tokenizers no longer have; with that one call restored, its own zero-mask rule gives the same scores.
    original = bert_score.utils.sent_encode

    def sent_encode(tokenizer: object, sent: str) -> list[int]:
        if not sent.strip():
            return [tokenizer.cls_token_id, tokenizer.sep_token_id]  # type: ignore[attr-defined]
        return original(tokenizer, sent)

    monkeypatch.setattr(bert_score.utils, "sent_encode", sent_encode)
    assert_allclose(np.array(ours), _bert_score(candidates, references), atol=1e-4)


def test_input_checks(scorer: BertScorer) -> None:
    assert scorer.score([], []) == []
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        scorer.score(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="batch_size"):
        BertScorer(batch_size=0)
    with pytest.raises(ValueError, match="dtype must be float64 or float32, got 'float16'"):
        BertScorer(dtype="float16")  # type: ignore[arg-type]


def test_float32_agrees_with_float64_within_bert_score_tolerance(scorer: BertScorer) -> None:
    candidates, references = CANDIDATES, REFERENCES
    fast = np.array(BertScorer(dtype="float32").score(candidates, references))
    assert np.abs(fast - np.array(scorer.score(candidates, references))).max() <= 1e-4
    assert np.abs(fast - _bert_score(candidates, references)).max() <= 1e-4


def test_f1_is_zero_where_undefined() -> None:
    assert f1_score(0.0, 0.0) == 0.0
    assert f1_score(0.5, 1.0) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("text", "meaningful"),
    [
        ("A red cup on a desk.", True),
        ("The sign reads 停车场 in red letters", True),  # English with a CJK word
        ("42", True),
        ("", False),
        ("   \n\t", False),
        ("...!?", False),
        ("桌子左边有一个红色的杯子", False),
        ("東京へ行きます", False),  # kanji and kana
        ("ﾃｽﾄ", False),  # half-width katakana
        ("서울에 갑니다", False),  # Hangul
        ("iPhone 15 手机壳 红色", False),  # half or more of the characters are CJK
    ],
)
def test_is_meaningful(scorer: BertScorer, text: str, meaningful: bool) -> None:
    assert is_meaningful(text) is meaningful
    assert scorer.is_meaningful(text) is meaningful


def test_cjk_is_mostly_unknown_to_the_model(scorer: BertScorer) -> None:
    """Why CJK text is left unscored: the English vocabulary turns it into [UNK]s."""
    (ids,) = scorer.encode(["我们去公园玩"])
    unknown = sum(token == _bert_score_tokenizer().unk_token_id for token in ids)
    assert (unknown, len(ids)) == (4, 8)  # [CLS], 2 known characters, 4 [UNK]s, [SEP]


def test_scorer_threads_are_the_task_share_of_cores_where_set_else_this_process_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert scorer_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert scorer_threads() == len(os.sched_getaffinity(0))
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[:1])
    try:
        assert scorer_threads() == 1  # pinned to one core (taskset), as bench_end_to_end's one-core run is
    finally:
        os.sched_setaffinity(0, cpus)
