"""Paraphrase backends (rules, tiny transformers models) and the BERTScore meaning filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.tiny_paraphrasers import build_tiny_paraphraser

from vlforge.augment.paraphrase import (
    LexiconError,
    ParaphraseModelError,
    Paraphraser,
    RuleParaphraser,
    TransformersParaphraser,
    canonical_form,
    filter_paraphrases,
    load_lexicon,
    protected_spans,
)
from vlforge.quality.metrics.bertscore import is_meaningful

TEXTS = [
    "The image shows a large dog sitting on the road.",
    "What is in the image?",
    "There is a car in the street to the left of <ref>the man</ref><box>(10,20),(30,40)</box>.",
    "Describe the photo.",
    "An object is located at the right of 3 people.",
    "图片显示一个男人在马路左边。",
    "请描述这张照片。",
    "图片中有什么？",
    "这张图片里的小狗是什么？",
]
EXPECTED_SEED_0 = [
    "The image depicts a big dog sitting on the road.",
    "What is in the image?",
    "There is a car in the street to the left of <ref>the man</ref><box>(10,20),(30,40)</box>.",
    "Describe the image.",
    "An object is situated at the right of 3 people.",
    "图像显示一个男士在道路左边。",
    "请对这张图片进行描述。",
    "图片中有什么？",
    "请问这张图片里的小狗是什么？",
]
EXPECTED_SEED_1 = [
    "The image shows a big dog sitting on the road.",
    "What does the image contain?",
    "In the street to the left of <ref>the man</ref><box>(10,20),(30,40)</box>, there is an automobile.",
    "Describe the photo.",
    "An item is located at the right of 3 individuals.",
    "图像展示一个男子在道路左边。",
    "请描述这张图片。",
    "图片中有什么？",
    "这张图片里的狗狗是什么？",
]


@pytest.fixture(scope="module")
def rules() -> RuleParaphraser:
    return RuleParaphraser()


def test_rule_paraphrases_are_exact_under_a_seed(rules: RuleParaphraser) -> None:
    assert isinstance(rules, Paraphraser)
    assert rules.paraphrase(TEXTS, np.random.default_rng(0)) == EXPECTED_SEED_0
    assert rules.paraphrase(TEXTS, np.random.default_rng(1)) == EXPECTED_SEED_1
    assert rules.paraphrase(TEXTS, np.random.default_rng(0)) == EXPECTED_SEED_0


def test_rules_at_rate_one_rewrite_every_word_and_template(rules: RuleParaphraser) -> None:
    always = RuleParaphraser(substitute_rate=1.0, restructure_rate=1.0)
    assert always.paraphrase(["A photo of an object.", "图片中有什么？"], np.random.default_rng(3)) == [
        "An image of an item.",
        "图像中有哪些东西？",
    ]
    never = RuleParaphraser(substitute_rate=0.0, restructure_rate=0.0)
    assert never.paraphrase(TEXTS, np.random.default_rng(0)) == TEXTS


def test_rules_fix_the_article_before_a_replaced_word() -> None:
    always = RuleParaphraser(substitute_rate=1.0, restructure_rate=0.0)
    assert always.paraphrase(["an item", "a object", "An object"], np.random.default_rng(0)) == [
        "an object",
        "an item",
        "An item",
    ]


SPATIAL_AND_NUMBERS = [
    "The large dog on the left is next to 2 small cars on the right side of the road.",
    "A photo of <ref>the car</ref><|box_start|>(1,2),(3,4)<|box_end|> at the top left, three people beside it.",
    "照片左边有两个孩子，右边有3辆汽车，<ref>小狗</ref><box>(5,6),(7,8)</box>在上面。",
    "Please describe the image with 4.5 seconds of video <video> above the <image>.",
]


def test_rules_never_change_spatial_words_numbers_or_markup(rules: RuleParaphraser) -> None:
    changed = 0
    for seed in range(40):
        for original, paraphrase in zip(SPATIAL_AND_NUMBERS, rules.paraphrase(SPATIAL_AND_NUMBERS, np.random.default_rng(seed))):
            assert protected_spans(paraphrase) == protected_spans(original)
            changed += paraphrase != original
    assert changed == 130  # of 40 x 4
    assert protected_spans(SPATIAL_AND_NUMBERS[2]) == [
        "左", "两", "右", "3", "<ref>小狗</ref>", "<box>(5,6),(7,8)</box>", "上",
    ]


def test_shipped_lexicon_loads_and_bad_lexicons_are_named(tmp_path: Path) -> None:
    lexicon = load_lexicon()
    assert lexicon.groups[0] == ("image", "picture", "photo", "photograph")
    assert lexicon.member_group["照片"] == lexicon.member_group["图片"]
    spatial = tmp_path / "spatial.txt"
    spatial.write_text("# comment\nport | left side\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"spatial.txt line 2: synonym 'left side' contains protected text 'left'"):
        load_lexicon([spatial])
    numeral = tmp_path / "numeral.txt"
    numeral.write_text("一只狗 | 小狗\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"numeral.txt line 1: synonym '一只狗' contains protected text '一'"):
        load_lexicon([numeral])
    twice = tmp_path / "twice.txt"
    twice.write_text("big | large\nlarge | huge\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"twice.txt: synonym 'large' is in two groups"):
        load_lexicon([twice])


def test_canonical_form_equates_only_lexicon_equivalences() -> None:
    lexicon = load_lexicon()
    assert canonical_form("图片显示一个男人。", lexicon) == canonical_form("照片呈现一个男士。", lexicon)
    assert canonical_form("请描述这张照片。", lexicon) == canonical_form("请对这张图片进行描述。", lexicon)
    assert canonical_form("There is a car in the street.", lexicon) == canonical_form("In the road, there is an automobile.", lexicon)
    assert canonical_form("图片显示一个男人。", lexicon) != canonical_form("图片显示一个女人。", lexicon)
    assert canonical_form("图片显示一个男人。", lexicon) != canonical_form("图片显示两个男人。", lexicon)


class StubScorer:
    """F1 from a table; English only, as the real MiniLM scorer."""

    def __init__(self, f1: dict[tuple[str, str], float]) -> None:
        self.f1 = f1
        self.calls: list[tuple[list[str], list[str]]] = []

    def is_meaningful(self, text: str) -> bool:
        return is_meaningful(text)

    def score(self, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        self.calls.append((candidates, references))
        return [(0.0, 0.0, self.f1[(c, r)]) for c, r in zip(candidates, references, strict=True)]


def test_filter_rules_with_a_stub_scorer() -> None:
    originals = [
        "A dog on the grass.",  # scored, kept
        "A dog on the grass.",  # scored, too low
        "A cat on the left.",  # spatial word changed: rejected unscored
        "A cat on a mat.",  # unchanged: rejected
        "图片显示一个男人。",  # CJK, only lexicon synonyms: kept
        "图片显示一个男人。",  # CJK, free rewrite: rejected
        "请描述这张照片。",  # CJK, template: kept
    ]
    candidates = [
        "A puppy on the lawn.",
        "Stocks fell sharply.",
        "A cat on the right.",
        "A cat on a mat. ",
        "照片展示一个男子。",
        "图中是一位男性。",
        "请对这张图像进行描述。",
    ]
    scorer = StubScorer({("A puppy on the lawn.", "A dog on the grass."): 0.9, ("Stocks fell sharply.", "A dog on the grass."): 0.2})
    kept, rejected = filter_paraphrases(originals, candidates, scorer, threshold=0.85)
    assert [(k.index, k.paraphrase, k.f1, k.rule) for k in kept] == [
        (0, "A puppy on the lawn.", 0.9, "bertscore"),
        (4, "照片展示一个男子。", None, "lexicon"),
        (6, "请对这张图像进行描述。", None, "lexicon"),
    ]
    assert rejected == 4
    assert scorer.calls == [(["A puppy on the lawn.", "Stocks fell sharply."], ["A dog on the grass.", "A dog on the grass."])]
    assert filter_paraphrases([], [], scorer, 0.5) == ([], 0)
    with pytest.raises(ValueError, match="2 originals but 1 candidate paraphrases"):
        filter_paraphrases(["a", "b"], ["c"], scorer, 0.5)


def test_filter_keeps_every_rule_paraphrase_of_cjk(rules: RuleParaphraser) -> None:
    chinese = [text for text in TEXTS if not is_meaningful(text)]
    paraphrases = rules.paraphrase(chinese, np.random.default_rng(0))
    kept, rejected = filter_paraphrases(chinese, paraphrases, StubScorer({}), threshold=0.9)
    changed = [c for o, c in zip(chinese, paraphrases) if o != c]
    assert [k.paraphrase for k in kept] == changed == ["图片展示一个男子在马路左边。", "这张图片里的狗狗是什么？"]
    assert rejected == len(chinese) - 2


@pytest.mark.slow
def test_filter_with_the_real_bertscorer() -> None:
    from vlforge.quality.metrics.bertscore import BertScorer

    originals = [
        "The image shows a large dog sitting on the road.",
        "A red car is parked on the street.",
        "A man rides a bicycle.",
    ]
    candidates = [
        "The picture depicts a big dog sitting on the street.",
        "Quarterly revenue grew last year.",
        "A man rides a bicycle quickly.",
    ]
    kept, rejected = filter_paraphrases(originals, candidates, BertScorer(), threshold=0.7)
    assert [(k.index, k.rule) for k in kept] == [(0, "bertscore"), (2, "bertscore")]
    assert [k.f1 for k in kept] == pytest.approx([0.8559, 0.8653], abs=1e-3)
    assert rejected == 1


@pytest.fixture(scope="module", params=["seq2seq", "causal"])
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    kind = request.param
    return kind, build_tiny_paraphraser(tmp_path_factory.mktemp(f"tiny_{kind}"), kind)


@pytest.mark.slow
def test_transformers_backend_loads_a_local_model_and_is_seeded(tiny_model: tuple[str, Path]) -> None:
    kind, folder = tiny_model
    paraphraser = TransformersParaphraser(folder, max_new_tokens=6)
    assert isinstance(paraphraser, Paraphraser)
    assert paraphraser.resolved_kind == kind
    texts = ["a dog on the grass .", "what is in the image ?"]
    first = paraphraser.paraphrase(texts, np.random.default_rng(0))
    assert first == paraphraser.paraphrase(texts, np.random.default_rng(0))
    assert len(first) == 2 and all(isinstance(text, str) and text for text in first)
    assert len({tuple(paraphraser.paraphrase(texts, np.random.default_rng(seed))) for seed in range(5)}) == 5
    greedy = TransformersParaphraser(folder, kind=kind, max_new_tokens=6, sample=False)
    assert greedy.paraphrase(texts, np.random.default_rng(0)) == greedy.paraphrase(texts, np.random.default_rng(9))


@pytest.mark.slow  # imports transformers: over a second on its own
def test_transformers_backend_names_a_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(ParaphraseModelError, match=f"paraphrase model folder {tmp_path} has no config.json"):
        TransformersParaphraser(tmp_path).paraphrase(["a dog"], np.random.default_rng(0))
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ParaphraseModelError, match=f"cannot load a causal paraphrase model from {tmp_path}"):
        TransformersParaphraser(tmp_path).paraphrase(["a dog"], np.random.default_rng(0))
    with pytest.raises(ValueError, match="prompt must contain"):
        TransformersParaphraser(tmp_path, prompt="paraphrase")
