"""Which characters a font can draw: the fonts Chromium used for an element, looked up in their cmaps.

Chromium reports the platform fonts that rendered an element's text (DevTools
``CSS.getPlatformFontsForNode``: family and PostScript name). fontconfig (``fc-list``) maps a
PostScript name to its file and face index, and fontTools reads that face's character map. A
character found in none of the fonts that rendered its element was drawn as a missing-glyph box
("tofu"), whatever fallback Chromium tried.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int


@functools.cache
def installed_faces() -> dict[str, FontFace]:
    """PostScript name -> file and face index of every font fontconfig knows."""
    try:
        listing = subprocess.run(
            ["fc-list", ":", "postscriptname", "file", "index"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise RuntimeError(f"cannot list fonts with fc-list ({error}); install fontconfig") from None
    faces = {}
    for row in listing.splitlines():
        # "/usr/share/fonts/.../NotoSansCJK-Regular.ttc: :index=2:postscriptname=NotoSansCJKsc-Regular"
        path, _, properties = row.partition(": ")
        fields = dict(part.split("=", 1) for part in properties.split(":") if "=" in part)
        if "postscriptname" in fields:
            faces.setdefault(fields["postscriptname"], FontFace(path, int(fields.get("index", 0))))
    return faces


@functools.cache
def character_map(postscript_name: str) -> frozenset[int]:
    """The code points the installed face ``postscript_name`` has glyphs for (empty when unknown)."""
    from fontTools.ttLib import TTFont

    face = installed_faces().get(postscript_name)
    if face is None:
        return frozenset()
    font = TTFont(face.path, fontNumber=face.index, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def missing_characters(text: str, postscript_names: Iterable[str]) -> list[str]:
    """Characters of ``text`` (whitespace aside) that none of the named fonts can draw, in order, once each."""
    covered: set[int] = set()
    for name in postscript_names:
        covered |= character_map(name)
    missing: list[str] = []
    for character in text:
        if not character.isspace() and ord(character) not in covered and character not in missing:
            missing.append(character)
    return missing
