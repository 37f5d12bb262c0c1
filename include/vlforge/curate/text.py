"""The text of a sample as curate compares and measures it: media tags removed, optionally normalised.

Pure functions.
"""

from __future__ import annotations

import re
import unicodedata

from vlforge.records import Sample

_MEDIA_TAG = re.compile(r"<(?:image|video)>")
_WHITESPACE = re.compile(r"\s+")


def strip_media_tags(text: str) -> str:
    """``text`` without ``<image>``/``<video>`` placeholders (the images are compared by their own hashes)."""
    return _MEDIA_TAG.sub(" ", text)


def normalize_text(text: str) -> str:
    """Casefold, delete Unicode punctuation (categories ``P*``), collapse whitespace, strip media tags.

    ``"<image>\\nWhat's  THIS?"`` becomes ``"whats this"``; CJK punctuation such as ``，。`` is removed too.
    """
    without_tags = strip_media_tags(text).casefold()
    kept = "".join(char for char in without_tags if not unicodedata.category(char).startswith("P"))
    return _WHITESPACE.sub(" ", kept).strip()


def normalized_turns(sample: Sample) -> tuple[tuple[str, str], ...]:
    """``(role, normalised content)`` for every turn of the sample's conversation."""
    return tuple((turn.role, normalize_text(turn.content)) for turn in sample.conversations)


def normalized_conversation(sample: Sample) -> str:
    """All turns' normalised contents joined by single spaces (what text near-duplicates are measured on)."""
    return " ".join(content for _, content in normalized_turns(sample) if content)


def conversation_chars(sample: Sample) -> int:
    """Characters of all turns without media tags and surrounding whitespace (what the length filter measures)."""
    return sum(len(strip_media_tags(turn.content).strip()) for turn in sample.conversations)
