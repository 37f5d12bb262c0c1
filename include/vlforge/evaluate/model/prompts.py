"""The prompts a model is evaluated on, read back from the release's own export for its generation.

A record of the export holds the whole training conversation. Its last assistant turn is the reference
answer; every turn before it (earlier answers included, as the model would see them in a dialogue) is the
prompt. Media are resolved against the export file's folder, as the trainer resolves them:

- ``qwen_vl_chatml`` (JSON Lines, ``from``/``value``): images inline as ``Picture N: <img>path</img>``;
- ``qwen2_5_vl`` and ``qwen3_vl`` (JSON, ``human``/``gpt``): one ``<image>`` / ``<video>`` tag per path of
  the record's ``image`` / ``video`` (a path or a list), in order.

Splits are read test first, then val and train, and reading stops once every asked sample is found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vlforge.config import Recipe
from vlforge.curate.result import SPLITS
from vlforge.layout import ReleaseDir
from vlforge.release import read_release

ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}
_PICTURE = re.compile(r"Picture (\d+): <img>(.*?)</img>\n?", re.DOTALL)
_MEDIA_TAG = re.compile(r"(<image>|<video>)")


class PromptError(ValueError):
    """The release's export cannot give a sample's prompt; names the file, the record, the field and the value."""


@dataclass(frozen=True)
class Part:
    """One piece of a message: text, or an image or video file."""

    kind: Literal["text", "image", "video"]
    value: str  # the text, or the media file's absolute path


@dataclass(frozen=True)
class Message:
    role: str
    parts: tuple[Part, ...]

    def text(self) -> str:
        return "".join(part.value for part in self.parts if part.kind == "text")


@dataclass(frozen=True)
class Prompt:
    """What the model is asked (``messages``, ending with a user turn) and the reference answer."""

    sample_id: str
    messages: tuple[Message, ...]
    reference: str

    def media(self, kind: Literal["image", "video"]) -> list[str]:
        return [part.value for message in self.messages for part in message.parts if part.kind == kind]


def release_recipe(release: ReleaseDir) -> Recipe:
    """The recipe the release was built with (``RELEASE.json``'s ``recipe``)."""
    return Recipe.model_validate(read_release(release.path)["recipe"])


def export_files(release: ReleaseDir, export_format: str) -> list[Path]:
    """The data files of ``export_format`` in ``RELEASE.json``, test split first, then val, then train.

    Raises:
        PromptError: when the release did not export the format.
    """
    exports: dict[str, list[str]] = read_release(release.path).get("exports", {})
    if export_format not in exports:
        raise PromptError(
            f"{release.release_json}: exports has no {export_format!r} (the model's generation needs it); "
            f"exported: {sorted(exports)}"
        )
    suffix = ".jsonl" if export_format == "qwen_vl_chatml" else ".json"
    files = [name for name in exports[export_format] if name.endswith(suffix) and Path(name).stem.rsplit("_", 1)[-1] in SPLITS]
    order = {split: index for index, split in enumerate(reversed(SPLITS))}
    return [release.exports / name for name in sorted(files, key=lambda name: order[Path(name).stem.rsplit("_", 1)[-1]])]


def _records(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)
    yield from records


def read_prompts(release: ReleaseDir, export_format: str, sample_ids: list[str]) -> dict[str, Prompt]:
    """The prompt and reference of each of ``sample_ids`` in the release's ``export_format`` files.

    Args:
        release: the release folder.
        export_format: ``qwen_vl_chatml``, ``qwen2_5_vl`` or ``qwen3_vl``.
        sample_ids: the samples to find.

    Returns:
        ``{sample_id: Prompt}`` for every id the export holds (a format leaves some samples out, e.g.
        videos in ``qwen_vl_chatml``; the caller scores those as errors).

    Raises:
        PromptError: for a record that has no user turn before its last assistant turn, or an unknown role.
    """
    wanted = set(sample_ids)
    found: dict[str, Prompt] = {}
    for path in export_files(release, export_format):
        for index, record in enumerate(_records(path)):
            if record.get("id") in wanted and record["id"] not in found:
                found[record["id"]] = prompt_of(record, path, index)
        if wanted <= found.keys():
            break
    return found


def prompt_of(record: dict[str, Any], path: Path, index: int) -> Prompt:
    """One export record as a prompt (turns before the last assistant turn) and its reference (that turn)."""
    where = f"{path} record {index} (id {record.get('id')!r})"
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise PromptError(f"{where}: field conversations = {turns!r} is not a list of turns")
    roles = []
    for turn in turns:
        role = turn.get("from")
        if role not in ROLES:
            raise PromptError(f"{where}: field from = {role!r}; known roles: {sorted(ROLES)}")
        roles.append(ROLES[role])
    last = max((position for position, role in enumerate(roles) if role == "assistant"), default=-1)
    if last < 1 or "user" not in roles[:last]:
        raise PromptError(f"{where}: field conversations has no user turn before an assistant turn (roles {roles})")
    folder = path.parent
    if path.suffix == ".json":
        messages = _tagged_messages(record, turns[:last], roles[:last], folder, where)
    else:
        messages = _picture_messages(turns[:last], roles[:last], folder)
    return Prompt(sample_id=str(record["id"]), messages=tuple(messages), reference=str(turns[last]["value"]))


def _paths(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _tagged_messages(record: dict[str, Any], turns: list[dict[str, Any]], roles: list[str], folder: Path, where: str) -> list[Message]:
    media = {"<image>": iter(_paths(record.get("image"))), "<video>": iter(_paths(record.get("video")))}
    messages = []
    for turn, role in zip(turns, roles, strict=True):
        parts = []
        for piece in _MEDIA_TAG.split(str(turn["value"])):
            if piece in media:
                path = next(media[piece], None)
                if path is None:
                    raise PromptError(f"{where}: more {piece} tags than paths in field {piece[1:-1]}")
                parts.append(Part(piece[1:-1], str((folder / path).resolve())))  # type: ignore[arg-type]
            elif piece:
                parts.append(Part("text", piece))
        messages.append(Message(role, tuple(parts)))
    return messages


def _picture_messages(turns: list[dict[str, Any]], roles: list[str], folder: Path) -> list[Message]:
    messages = []
    for turn, role in zip(turns, roles, strict=True):
        text = str(turn["value"])
        parts: list[Part] = []
        position = 0
        for match in _PICTURE.finditer(text):
            if match.start() > position:
                parts.append(Part("text", text[position : match.start()]))
            parts += [Part("text", f"Picture {match.group(1)}: "), Part("image", str((folder / match.group(2)).resolve()))]
            position = match.end()
        if position < len(text):
            parts.append(Part("text", text[position:]))
        messages.append(Message(role, tuple(parts)))
    return messages
