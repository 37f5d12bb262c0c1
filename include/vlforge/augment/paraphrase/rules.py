"""Rule-based paraphrasing for English and Chinese: synonym substitution and light restructuring, no model.

What is never changed (the *protected spans*; ``protected_spans`` lists them in order):

- markup: ``<box>...</box>``, ``<ref>...</ref>``, ``<quad>...</quad>``, Qwen2-VL's
  ``<|box_start|>...<|box_end|>``, ``<|object_ref_start|>...<|object_ref_end|>``,
  ``<|quad_start|>...<|quad_end|>`` and every other ``<tag>`` (``<image>``, ``<video>``);
- numbers (any run of digits, with ``.``/``,``/``:``/``/`` between digits), English number
  words (``one`` .. ``twenty``, ``hundred``, ``first`` .. ``tenth``, ...) and Chinese numerals;
- spatial words: English ``left*``, ``right*``, ``top``, ``bottom``, ``above``, ``below``, ...;
  Chinese characters ``左 右 上 下 前 后 里 外 中 内 旁``.

They are masked (replaced by private-use characters) before any rule runs and put back
afterwards, and the result is checked: if its protected spans differ from the input's in any way
(order, text, count) the input is returned unchanged.

The rules, in order, for each text:

1. restructuring: if the text matches one form of a template group (``TEMPLATES``), with
   probability ``restructure_rate`` it is rewritten into another form of the group, drawn uniformly;
2. synonym substitution: each occurrence of a lexicon member (English: whole words, case-insensitive,
   longest first; Chinese: substrings, longest first) is, with probability ``substitute_rate``,
   replaced by another member of its group drawn uniformly. An English replacement keeps an
   initial capital, and an ``a``/``an`` right before it is fixed to the new word's first letter.

Randomness comes only from the ``numpy.random.Generator`` passed in, in text order.

``canonical_form`` maps a text to the form shared by everything these rules can make of it; two
texts with the same canonical form differ only by lexicon-listed equivalences. The filter uses
it for text that BERTScore cannot judge.

The lexicon is package data (``lexicon/en.txt``, ``lexicon/zh.txt``, hand-written, see
``lexicon/SOURCE.md``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

_MARKUP = (
    r"<box>.*?</box>|<ref>.*?</ref>|<quad>.*?</quad>"
    r"|<\|box_start\|>.*?<\|box_end\|>|<\|object_ref_start\|>.*?<\|object_ref_end\|>"
    r"|<\|quad_start\|>.*?<\|quad_end\|>|<[^<>\s]+>"
)
_NUMBER = r"\d+(?:[.,:/]\d+)*"
EN_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion dozen half first second third fourth fifth sixth seventh "
    "eighth ninth tenth once twice single double pair couple both"
).split()
EN_SPATIAL_WORDS = (
    "top bottom above below under underneath beneath over behind front back beside besides between "
    "near nearby next center centre central middle upper lower inside outside within up down "
    "north south east west horizontal vertical corner side sides edge"
).split()
ZH_SPATIAL_CHARS = "左右上下前后里外中内旁"
ZH_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
_EN_PROTECTED = r"\b(?:left\w*|right\w*|" + "|".join(EN_SPATIAL_WORDS + EN_NUMBER_WORDS) + r")\b"
PROTECTED = re.compile(
    rf"{_MARKUP}|{_NUMBER}|(?i:{_EN_PROTECTED})|[{ZH_SPATIAL_CHARS}{ZH_NUMERAL_CHARS}]", re.DOTALL
)
_MASK_BASE = 0xE000  # Unicode private use area: never a letter, never in captions
_EN_WORD = re.compile(r"[A-Za-z]")
_ARTICLE = re.compile(r"\b([Aa])(n?)(\s+)$")


class LexiconError(ValueError):
    """A lexicon file breaks a rule; the message names the file, line and member."""


@dataclass(frozen=True)
class Lexicon:
    """Synonym groups: ``groups[i]`` are interchangeable; ``member_group`` maps a member (lowercase) to ``i``."""

    groups: tuple[tuple[str, ...], ...]
    member_group: dict[str, int]

    def pattern(self) -> re.Pattern[str]:
        """One regex matching every member, longest first; English members only as whole words."""
        members = sorted(self.member_group, key=lambda member: (-len(member), member))
        parts = [
            rf"(?<![A-Za-z]){re.escape(member)}(?![A-Za-z])" if _EN_WORD.search(member) else re.escape(member)
            for member in members
        ]
        return re.compile("|".join(parts), re.IGNORECASE)


def protected_spans(text: str) -> list[str]:
    """The spans no paraphrase may change (markup, numbers, spatial words), in order."""
    return PROTECTED.findall(text)


def _check_member(member: str, where: str) -> None:
    if not member:
        raise LexiconError(f"{where}: empty synonym")
    found = protected_spans(member)
    if found:
        raise LexiconError(f"{where}: synonym {member!r} contains protected text {found[0]!r} (spatial word, number or tag)")


def parse_lexicon(lines: Sequence[str], where: str) -> list[tuple[str, ...]]:
    """Synonym groups from lexicon lines (``a | b | c``, ``#`` comments), checked.

    Args:
        lines: the file's lines.
        where: the file name, for error messages.

    Returns:
        The groups, members lowercased for English.
    """
    groups: list[tuple[str, ...]] = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        members = tuple(member.strip().lower() for member in line.split("|"))
        for member in members:
            _check_member(member, f"{where} line {number}")
        if len(set(members)) < 2:
            raise LexiconError(f"{where} line {number}: a synonym group needs two different members, got {line!r}")
        groups.append(members)
    return groups


def load_lexicon(paths: Sequence[str | Path] | None = None) -> Lexicon:
    """The lexicon from ``paths``, by default the shipped ``lexicon/en.txt`` and ``lexicon/zh.txt``.

    Args:
        paths: lexicon files; ``None`` for the package's own.

    Returns:
        The lexicon.

    Raises:
        LexiconError: a member is protected text, a group has fewer than two members, or a
            member is in two groups (the message names the file and line).
    """
    if paths is None:
        folder = resources.files("vlforge.augment.paraphrase") / "lexicon"
        sources = [(f"lexicon/{name}", (folder / name).read_text(encoding="utf-8")) for name in ("en.txt", "zh.txt")]
    else:
        sources = [(str(path), Path(path).read_text(encoding="utf-8")) for path in paths]
    groups: list[tuple[str, ...]] = []
    member_group: dict[str, int] = {}
    for where, text in sources:
        for members in parse_lexicon(text.splitlines(), where):
            for member in members:
                if member in member_group:
                    raise LexiconError(
                        f"{where}: synonym {member!r} is in two groups: {groups[member_group[member]]} and {members}"
                    )
                member_group[member] = len(groups)
            groups.append(members)
    return Lexicon(groups=tuple(groups), member_group=member_group)


@dataclass(frozen=True)
class TemplateGroup:
    """Equivalent sentence forms: each is ``(regex, format)``; the regex matches the whole masked text."""

    forms: tuple[tuple[str, str], ...]

    def match(self, text: str) -> tuple[int, dict[str, str]] | None:
        """The first form matching ``text`` and its captured groups, or ``None``."""
        for index, (regex, _) in enumerate(self.forms):
            found = re.fullmatch(regex, text, re.DOTALL)
            if found:
                return index, found.groupdict()
        return None


# Hand-written; each form names the same captured groups. More specific forms come first,
# since the first matching form is the one a text is taken to be in.
TEMPLATES: tuple[TemplateGroup, ...] = (
    TemplateGroup(
        (
            (r"What can be seen in (?P<x>[^?]+)\?", "What can be seen in {x}?"),
            (r"What does (?P<x>[^?]+) contain\?", "What does {x} contain?"),
            (r"What is in (?P<x>[^?]+)\?", "What is in {x}?"),
        )
    ),
    TemplateGroup(
        (
            (r"Please describe (?P<x>[^.]+)\.", "Please describe {x}."),
            (r"Give a description of (?P<x>[^.]+)\.", "Give a description of {x}."),
            (r"Describe (?P<x>[^.]+)\.", "Describe {x}."),
        )
    ),
    TemplateGroup(
        (
            (r"In (?P<y>[^,.]+), there (?P<v>is|are) (?P<x>[^.]+)\.", "In {y}, there {v} {x}."),
            (r"There (?P<v>is|are) (?P<x>[^.]+) in (?P<y>[^,.]+)\.", "There {v} {x} in {y}."),
        )
    ),
    TemplateGroup(
        (
            (r"请对(?P<x>[^。]+)进行描述。", "请对{x}进行描述。"),
            (r"请描述(?P<x>[^。]+)。", "请描述{x}。"),
        )
    ),
    TemplateGroup(
        (
            (r"请问(?P<x>[^？]+)是什么？", "请问{x}是什么？"),
            (r"(?P<x>[^？]+)是什么？", "{x}是什么？"),
        )
    ),
    TemplateGroup(
        (
            (r"(?P<x>[^？]+)有哪些东西？", "{x}有哪些东西？"),
            (r"(?P<x>[^？]+)有什么？", "{x}有什么？"),
        )
    ),
)


def _mask(text: str) -> tuple[str, list[str]]:
    spans: list[str] = []

    def replace(found: re.Match[str]) -> str:
        spans.append(found.group(0))
        return chr(_MASK_BASE + len(spans) - 1)

    return PROTECTED.sub(replace, text), spans


def _unmask(text: str, spans: list[str]) -> str:
    return "".join(spans[ord(char) - _MASK_BASE] if _MASK_BASE <= ord(char) < _MASK_BASE + len(spans) else char for char in text)


def _with_case(replacement: str, original: str) -> str:
    if original[:1].isupper() and _EN_WORD.match(replacement[:1]):
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _fix_article(before: str, word: str) -> str:
    """``before`` with an ``a``/``an`` at its end agreeing with ``word``'s first letter."""
    found = _ARTICLE.search(before)
    if not found or not _EN_WORD.match(word[:1]):
        return before
    article = found.group(1) + ("n" if word[0].lower() in "aeiou" else "")
    return before[: found.start()] + article + found.group(3)


class RuleParaphraser:
    """Synonym substitution and template restructuring from a lexicon (see the module docstring).

    Args:
        lexicon: synonym groups; by default the shipped English and Chinese lexicon.
        substitute_rate: probability that each lexicon word is replaced.
        restructure_rate: probability that a text matching a template is rewritten.
        templates: sentence templates; by default ``TEMPLATES``.
    """

    def __init__(
        self,
        lexicon: Lexicon | None = None,
        substitute_rate: float = 0.5,
        restructure_rate: float = 0.5,
        templates: Sequence[TemplateGroup] = TEMPLATES,
    ) -> None:
        for name, rate in (("substitute_rate", substitute_rate), ("restructure_rate", restructure_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        self.lexicon = lexicon or load_lexicon()
        self.substitute_rate = substitute_rate
        self.restructure_rate = restructure_rate
        self.templates = tuple(templates)
        self._pattern = self.lexicon.pattern()

    def paraphrase(self, texts: list[str], rng: np.random.Generator) -> list[str]:
        """One paraphrase per text (possibly the text itself, when no rule fired).

        Args:
            texts: captions, questions or answers.
            rng: the only source of randomness.

        Returns:
            The paraphrases, in order; protected spans are identical to the input's.
        """
        return [self._one(text, rng) for text in texts]

    def _one(self, text: str, rng: np.random.Generator) -> str:
        masked, spans = _mask(text)
        masked = self._restructure(masked, rng)
        masked = self._substitute(masked, rng)
        result = _unmask(masked, spans)
        return result if protected_spans(result) == protected_spans(text) else text

    def _restructure(self, masked: str, rng: np.random.Generator) -> str:
        stripped = masked.strip()
        for group in self.templates:
            found = group.match(stripped)
            if found is None:
                continue
            index, captured = found
            if rng.random() >= self.restructure_rate:
                return masked
            others = [position for position in range(len(group.forms)) if position != index]
            target = others[int(rng.integers(len(others)))]
            return group.forms[target][1].format(**captured)
        return masked

    def _substitute(self, masked: str, rng: np.random.Generator) -> str:
        pieces: list[str] = []
        last = 0
        for found in self._pattern.finditer(masked):
            pieces.append(masked[last : found.start()])
            last = found.end()
            word = found.group(0)
            if rng.random() >= self.substitute_rate:
                pieces.append(word)
                continue
            group = self.lexicon.groups[self.lexicon.member_group[word.lower()]]
            others = [member for member in group if member != word.lower()]
            replacement = _with_case(others[int(rng.integers(len(others)))], word)
            before = "".join(pieces)
            pieces = [_fix_article(before, replacement), replacement]
        pieces.append(masked[last:])
        return "".join(pieces)


def canonical_form(text: str, lexicon: Lexicon, templates: Sequence[TemplateGroup] = TEMPLATES) -> str:
    """The form shared by every rewrite of ``text`` by lexicon synonyms and templates.

    Templates are rewritten to their group's first form, each lexicon member to its group's first
    member, English ``an`` to ``a``, letters lowercased and whitespace collapsed. Protected spans
    are kept as they are.

    Args:
        text: a text.
        lexicon: the synonym groups.
        templates: the template groups.

    Returns:
        The canonical form (for comparison only).
    """
    masked, spans = _mask(" ".join(text.split()))
    for group in templates:
        found = group.match(masked)
        if found is not None:
            masked = group.forms[0][1].format(**found[1])
            break
    masked = lexicon.pattern().sub(lambda hit: lexicon.groups[lexicon.member_group[hit.group(0).lower()]][0], masked)
    masked = re.sub(r"\ban\b", "a", masked.lower())
    return _unmask(masked, spans)
