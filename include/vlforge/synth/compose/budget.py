"""Tokens per sample by the target model's own rule: visual tokens from its ``smart_resize``, text from its tokenizer.

Without a configured tokenizer, text tokens are estimated: one token per CJK character and one per
four UTF-8 bytes of other text (Qwen's byte-level BPE averages about four bytes of English per
token; a CJK character is one token or part of one, so the estimate errs on the long side). Boxes
and OCR lines, which the exporters render into the answer, count their label or text plus
``COORDINATE_TOKENS`` for the coordinates.
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import Any

from vlforge.curate.tokens import resize_rule, sample_tokens
from vlforge.records import Sample
from vlforge.synth.compose.config import ComposeConfig

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")
COORDINATE_TOKENS = 10


def estimate_text_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    rest = len(_CJK.sub("", text).encode("utf-8"))
    return cjk + math.ceil(rest / 4)


class TokenCounter:
    """Counts a sample's tokens for ``config.model`` (and ``config.tokenizer_path`` when set)."""

    def __init__(self, config: ComposeConfig) -> None:
        self.config = config
        self.rule = resize_rule(config.model)

    @cached_property
    def tokenizer(self) -> Any:  # noqa: ANN401 - a transformers tokenizer
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.config.tokenizer_path, local_files_only=True)

    def text(self, text: str) -> int:
        if self.config.tokenizer_path:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return estimate_text_tokens(text)

    def sample(self, sample: Sample) -> int:
        texts = [turn.content for turn in sample.conversations]
        texts += [box.label for box in sample.boxes] + [line.text for line in sample.ocr_lines]
        coordinates = COORDINATE_TOKENS * (len(sample.boxes) + sum(line.box is not None for line in sample.ocr_lines))
        return sample_tokens(sample.images, self.rule) + sum(self.text(text) for text in texts) + coordinates


def over_budget(sample: Sample, config: ComposeConfig, counter: TokenCounter) -> str | None:
    """Why ``sample`` breaks the recipe's limits (``too_many_images``, ``over_token_budget``), or ``None``."""
    if len(sample.images) > config.max_images_per_sample:
        return "too_many_images"
    return "over_token_budget" if counter.sample(sample) > config.max_tokens else None
