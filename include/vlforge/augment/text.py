"""Keep conversation text true to the augmented image.

Three rules, each a pure function over strings or turns:

* ``swap_left_right``: after a horizontal mirror, spatial words swap.
  English: ``left``/``right`` (also ``leftmost``/``rightmost``, ``leftward(s)``/``rightward(s)``,
  ``left-hand``/``right-hand``, ``top-left``/``top-right``, ``to the left of``...), case kept
  (``Left`` -> ``Right``, ``LEFT`` -> ``RIGHT``). Because ``left`` is also the past of *leave* and
  ``right`` also means *correct* / *immediately*, a bare ``left``/``right`` swaps only in a spatial
  context: joined by a hyphen, preceded by one of ``SPATIAL_BEFORE`` (``the``, ``on``, ``to``,
  ``top``, ``turn``...) or followed by one of ``SPATIAL_AFTER`` (``side``, ``of``, ``corner``,
  ``hand``, ``edge``...). "the man left the room", "that's right", "right now" stay as they are.
  Chinese: ``左``/``右`` swap only inside the compounds of ``ZH_PAIRS`` (左边/右边, 左侧/右侧, 左面,
  左方, 左手, 左上, 左下, 左转, 向左, 往左, 靠左, 偏左, 最左, ...). A lone ``左``/``右`` and ``左右``
  ("about", "to sway") are never touched, nor 座右铭 or 左派.
  Rotations are not handled: after a 90 or 180 degree turn spatial words are left as written.
* boxes written in text, ``<box>(x1,y1),(x2,y2)</box>`` (Qwen-VL, 0-1000) and
  ``"bbox_2d": [x1, y1, x2, y2]`` (pixels or 0-1000, chosen by ``bbox_2d_units``), are read into
  pixel boxes (``find_text_boxes``) that the ops move with the image, then written back in the
  same form (``write_text_boxes``); Qwen-VL boxes are written with ``geometry.xyxy_to_qwen_vl_1000``,
  0-1000 ``bbox_2d`` with ``geometry.xyxy_to_relative_1000``, pixel ``bbox_2d`` rounded to integers.
* ``drop_turns_about``: a user question and the assistant answer that follows it are dropped together
  when either holds a box that was lost, a ``<ref>label</ref>`` of a lost box, or names a lost box's
  label as a whole word while no surviving box has that label (a shared label is ambiguous, so it
  alone never drops a turn). ``<image>`` tags of a dropped question move to the next kept question.
* ``retime_text``: event times quoted in the text (``1.5s``, ``3 sec``, ``2.0 seconds``) move with
  the video events of a sampled clip. A quoted time matches an event's old start or end when it
  equals it at the precision written (``"1s"`` matches 0.5 .. 1.5); it is rewritten to the event's
  new time with the same number of decimals, at least one when the value changes (``"3s"`` ->
  ``"2.3s"``); one that rounds to the same text stays as written. A quoted time that matches no event
  stays as written; one that matches several events with different new times is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vlforge.geometry import relative_1000_to_xyxy, xyxy_to_qwen_vl_1000, xyxy_to_relative_1000
from vlforge.records import Turn

XYXY = tuple[float, float, float, float]
Bbox2dUnits = Literal["pixels", "relative_1000"]

SPATIAL_BEFORE = frozenset(
    "the on to from at toward towards top bottom upper lower middle center centre far extreme its his her their "
    "your my our turn turns turned turning move moves moved go goes look looks looking facing faces face keep "
    "swipe scroll slide and or".split()
)
SPATIAL_AFTER = frozenset(
    "side sides of corner corners hand hands edge edges half part parts wing arm arms leg legs eye eyes ear ears "
    "foot feet shoulder column columns panel panels lane lanes margin border pane half-side".split()
)
_EN_WORD = re.compile(r"(?<![A-Za-z])(left|right)(most|wards?)?(?![A-Za-z])", re.IGNORECASE)
_EN_SWAP = {"left": "right", "right": "left"}

_ZH_SUFFIXES = ("边", "侧", "面", "方", "手", "脚", "眼", "耳", "上", "下", "转", "前", "后", "半", "端", "键")
_ZH_PREFIXES = ("向", "往", "靠", "偏", "最", "朝")
ZH_PAIRS = {f"{a}{s}": f"{b}{s}" for a, b in (("左", "右"), ("右", "左")) for s in _ZH_SUFFIXES}
ZH_PAIRS.update({f"{p}{a}": f"{p}{b}" for a, b in (("左", "右"), ("右", "左")) for p in _ZH_PREFIXES})
# A compound next to the other side's character is part of 左右 ("left and right", "about"):
# 左右手, 向左右 stay as written. Each match is replaced once, so 最左边 becomes 最右边.
_ZH_WORD = re.compile(
    "(?<![左右])(?:" + "|".join(f"[左右]{s}" for s in _ZH_SUFFIXES) + ")"
    "|(?:" + "|".join(f"{p}[左右]" for p in _ZH_PREFIXES) + ")(?![左右])"
)


def swap_left_right(text: str) -> str:
    """Swap left and right in ``text`` (English and Chinese) for an image mirrored left to right.

    Applying it twice gives back the text (the context rules read words that do not change).

    Args:
        text: a caption, question or answer.

    Returns:
        The text with spatial left/right words swapped, case kept.
    """
    return _ZH_WORD.sub(lambda m: ZH_PAIRS[m.group(0)], _EN_WORD.sub(lambda m: _swap_en(m, text), text))


def side_words(text: str) -> list[str]:
    """Every left/right word ``swap_left_right`` may swap, in order: English (lowercased), then Chinese compounds.

    Bare words outside a spatial context are listed too, so two texts compare equal only when they
    agree on every occurrence.
    """
    return [m.group(0).lower() for m in _EN_WORD.finditer(text)] + [m.group(0) for m in _ZH_WORD.finditer(text)]


def _swap_en(match: re.Match[str], text: str) -> str:
    word, suffix = match.group(1), match.group(2) or ""
    if not suffix and not _spatial_context(text, match.start(), match.end()):
        return match.group(0)
    swapped = _EN_SWAP[word.lower()]
    if word.isupper() and len(word) > 1:
        swapped = swapped.upper()
    elif word[0].isupper():
        swapped = swapped.capitalize()
    return swapped + suffix


def _spatial_context(text: str, start: int, end: int) -> bool:
    if (start > 0 and text[start - 1] == "-") or (end < len(text) and text[end] == "-"):
        return True
    before = re.findall(r"[A-Za-z]+", text[max(0, start - 30) : start])
    after = re.match(r"\s*([A-Za-z]+)", text[end:])
    if before and before[-1].lower() in SPATIAL_BEFORE:
        return True
    return bool(after and after.group(1).lower() in SPATIAL_AFTER)


_QWEN_BOX = re.compile(r"<box>\((\d+),(\d+)\),\((\d+),(\d+)\)</box>")
_BBOX_2D = re.compile(
    r"(\"bbox_2d\"\s*:\s*\[)\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,"
    r"\s*(-?\d+(?:\.\d+)?)\s*(\])"
)


@dataclass(frozen=True)
class TextBox:
    """A box written in a turn: which turn, which form, and where it lies in pixels."""

    turn: int
    form: Literal["qwen_vl", "bbox_2d"]
    box: XYXY


def find_text_boxes(turns: tuple[Turn, ...], width: int, height: int, bbox_2d_units: Bbox2dUnits) -> list[TextBox]:
    """Every ``<box>`` and ``"bbox_2d"`` in the turns, in order, as pixel boxes of a ``width`` x ``height`` image.

    A Qwen-VL box ``(a, b), (c, d)`` is ``relative_1000_to_xyxy``; the upper edge gets one more
    thousandth when the floored form made it equal to the lower one, so every box has an area.
    """
    found: list[TextBox] = []
    for index, turn in enumerate(turns):
        spans = sorted(
            [(m.start(), "qwen_vl", m) for m in _QWEN_BOX.finditer(turn.content)]
            + [(m.start(), "bbox_2d", m) for m in _BBOX_2D.finditer(turn.content)]
        , key=lambda item: item[0])
        for _, form, match in spans:
            if form == "qwen_vl":
                a, b, c, d = (int(match.group(k)) for k in range(1, 5))
                c, d = max(c, a + 1), max(d, b + 1)
                box = relative_1000_to_xyxy((a, b, c, d), width, height)
            else:
                values = tuple(float(match.group(k)) for k in range(2, 6))
                box = relative_1000_to_xyxy(values, width, height) if bbox_2d_units == "relative_1000" else values
            x1, y1, x2, y2 = box
            x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
            y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
            if not (x2 > x1 and y2 > y1):
                raise ValueError(f"turn {index}: box {match.group(0)!r} has no area on a {width}x{height} image")
            found.append(TextBox(turn=index, form=form, box=(x1, y1, x2, y2)))  # type: ignore[arg-type]
    return found


def write_text_boxes(
    turns: tuple[Turn, ...],
    new_boxes: list[XYXY | None],
    width: int,
    height: int,
    bbox_2d_units: Bbox2dUnits,
) -> tuple[Turn, ...]:
    """Write ``new_boxes`` (in the order of ``find_text_boxes``) back into the turns; ``None`` leaves the text.

    Turns holding a lost (``None``) box should be dropped by ``drop_turns_about`` afterwards.
    """
    iterator = iter(new_boxes)
    out: list[Turn] = []
    for turn in turns:
        spans = sorted(
            [(m.start(), m.end(), "qwen_vl") for m in _QWEN_BOX.finditer(turn.content)]
            + [(m.start(), m.end(), "bbox_2d") for m in _BBOX_2D.finditer(turn.content)]
        )
        pieces: list[str] = []
        cursor = 0
        for start, end, form in spans:
            box = next(iterator)
            pieces.append(turn.content[cursor:start])
            original = turn.content[start:end]
            if box is None:
                pieces.append(original)
            elif form == "qwen_vl":
                x1, y1, x2, y2 = _qwen_vl_1000(box, width, height)
                pieces.append(f"<box>({x1},{y1}),({x2},{y2})</box>")
            else:
                if bbox_2d_units == "relative_1000":
                    values = xyxy_to_relative_1000(box, width, height)
                else:
                    values = tuple(round(v) for v in box)
                head = _BBOX_2D.match(original)
                assert head is not None
                pieces.append(f"{head.group(1)}{values[0]}, {values[1]}, {values[2]}, {values[3]}]")
            cursor = end
        pieces.append(turn.content[cursor:])
        out.append(turn.model_copy(update={"content": "".join(pieces)}) if spans else turn)
    return tuple(out)


# A thousandth read from text and moved by a pure permutation or an exact scale comes back as
# e.g. 26.9999999 thousandths after float arithmetic; flooring that would shift an untouched
# coordinate by one. Values within this many thousandths under an integer are read as that integer.
QWEN_VL_FLOOR_TOLERANCE = 1e-4


def _qwen_vl_1000(box: XYXY, width: int, height: int) -> tuple[int, int, int, int]:
    """``geometry.xyxy_to_qwen_vl_1000`` with ``QWEN_VL_FLOOR_TOLERANCE`` against float noise."""
    nudge_x, nudge_y = width * QWEN_VL_FLOOR_TOLERANCE / 1000.0, height * QWEN_VL_FLOOR_TOLERANCE / 1000.0
    x1, y1, x2, y2 = box
    return xyxy_to_qwen_vl_1000((x1 + nudge_x, y1 + nudge_y, x2 + nudge_x, y2 + nudge_y), width, height)


def drop_turns_about(
    turns: tuple[Turn, ...],
    lost_turns: set[int],
    lost_labels: set[str],
    kept_labels: set[str],
) -> tuple[tuple[Turn, ...], list[int]]:
    """Drop question/answer pairs that refer to a lost object.

    Args:
        turns: the conversation.
        lost_turns: indices of turns that hold a lost text box.
        lost_labels: labels (or OCR texts) of lost boxes.
        kept_labels: labels of boxes that survived.

    Returns:
        The kept turns and the indices of the dropped ones.
    """
    ambiguous = {label.lower() for label in kept_labels}
    names = [label for label in lost_labels if label and label.lower() not in ambiguous]
    refs = [label for label in lost_labels if label]

    def refers(index: int) -> bool:
        content = turns[index].content
        if index in lost_turns:
            return True
        if any(f"<ref>{label}</ref>" in content for label in refs):
            return True
        return any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", content, re.IGNORECASE) for name in names)

    dropped: set[int] = set()
    index = 0
    while index < len(turns):
        role = turns[index].role
        if role == "user" and index + 1 < len(turns) and turns[index + 1].role == "assistant":
            if refers(index) or refers(index + 1):
                dropped.update((index, index + 1))
            index += 2
            continue
        if role != "system" and refers(index):
            dropped.add(index)
        index += 1

    kept: list[Turn] = []
    pending_images = 0
    for index, turn in enumerate(turns):
        if index in dropped:
            if turn.role == "user":
                pending_images += turn.content.count("<image>")
            continue
        if pending_images and turn.role == "user":
            turn = turn.model_copy(update={"content": "<image>" * pending_images + "\n" + turn.content.lstrip()})
            pending_images = 0
        kept.append(turn)
    return tuple(kept), sorted(dropped)


_TIME_MENTION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s?)(s|secs?|seconds?)(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class RetimedText:
    """What ``retime_text`` did: the new turns, each rewrite ``(turn, old, new)`` and each ambiguous mention."""

    turns: tuple[Turn, ...]
    changes: tuple[tuple[int, str, str], ...]
    ambiguous: tuple[tuple[int, str], ...]


def retime_text(turns: tuple[Turn, ...], times: list[tuple[float, float]]) -> RetimedText:
    """Rewrite quoted event times in user and assistant turns (the rule is in the module docstring).

    Args:
        turns: the conversation; system turns are left as they are.
        times: ``(old_s, new_s)`` for each kept event's start and end.

    Returns:
        The turns with times rewritten, the rewrites, and mentions matching several different new times
        (those are left as written).
    """
    changes: list[tuple[int, str, str]] = []
    ambiguous: list[tuple[int, str]] = []
    out: list[Turn] = []
    for index, turn in enumerate(turns):
        if turn.role == "system":
            out.append(turn)
            continue

        def replace(match: re.Match[str], index: int = index) -> str:
            number = match.group(1)
            decimals = len(number.split(".")[1]) if "." in number else 0
            value = float(number)
            tolerance = 0.5 * 10.0**-decimals + 1e-9
            targets = {round(new, 6) for old, new in times if abs(value - old) <= tolerance}
            if not targets:
                return match.group(0)
            if len(targets) > 1:
                ambiguous.append((index, match.group(0)))
                return match.group(0)
            (new,) = targets
            if f"{new:.{decimals}f}" == number:
                return match.group(0)
            written = f"{new:.{max(decimals, 1)}f}"
            changes.append((index, number, written))
            return f"{written}{match.group(2)}{match.group(3)}"

        content = _TIME_MENTION.sub(replace, turn.content)
        out.append(turn if content == turn.content else turn.model_copy(update={"content": content}))
    return RetimedText(tuple(out), tuple(changes), tuple(ambiguous))
