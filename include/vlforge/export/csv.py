"""CSV for spreadsheets: one row per sample, for reading and reviewing a release in Excel or LibreOffice.

Columns (``COLUMNS``): ``sample_id``, ``task_type``, ``images`` and ``videos`` (JSON lists of paths
relative to this folder), ``question`` and ``answer`` (the user and the assistant turns of the sample's own
conversation, each joined by a blank line, ``<image>`` and ``<video>`` tags left out), ``boxes``, ``ocr_lines`` and
``actions`` (JSON, vlforge's absolute pixel ``x1, y1, x2, y2``), ``annotator``, ``round``, ``gold``.

The file is RFC 4180: ``\\r\\n`` line ends, and fields with commas, quotes or line breaks quoted
(quotes doubled). It is UTF-8 *with* a byte-order mark: Excel opens a double-clicked CSV in the
system's legacy code page unless the file starts with a BOM, which would garble CJK text; pandas
(``encoding="utf-8-sig"``), Python's csv module and LibreOffice read the BOM as the encoding mark.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is one a spreadsheet
would run as a formula (CSV injection): such a cell is written with a ``'`` before it, as OWASP's
"CSV Injection" page advises, so a caption ``=HYPERLINK(...)`` shows as text. Only this file does
so; the manifest and every other export keep the value as it was annotated.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from vlforge.config import Recipe
from vlforge.export.render import IMAGE_PREFIX, VIDEO_PREFIX
from vlforge.records import Box, Sample
from vlforge.store import atomic_open

COLUMNS = (
    "sample_id",
    "task_type",
    "images",
    "videos",
    "question",
    "answer",
    "boxes",
    "ocr_lines",
    "actions",
    "annotator",
    "round",
    "gold",
)
ENCODING = "utf-8-sig"
# OWASP's list of the first characters that make a spreadsheet cell a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _box(box: Box) -> dict[str, object]:
    return {"label": box.label, "x1": box.x1, "y1": box.y1, "x2": box.x2, "y2": box.y2, "image_index": box.image_index}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def row(sample: Sample, image_prefix: str, video_prefix: str = VIDEO_PREFIX) -> dict[str, str]:
    """One spreadsheet row; every value is text."""

    def turns(role: str) -> str:
        texts = [
            turn.content.replace("<image>", "").replace("<video>", "").strip()
            for turn in sample.conversations
            if turn.role == role
        ]
        return "\n\n".join(texts)

    return {
        "sample_id": sample.sample_id,
        "task_type": sample.task_type,
        "images": _json([f"{image_prefix}/{image.file_name}" for image in sample.images]),
        "videos": _json([f"{video_prefix}/{video.file_name}" for video in sample.videos]),
        "question": turns("user"),
        "answer": turns("assistant"),
        "boxes": _json([_box(box) for box in sample.boxes]),
        "ocr_lines": _json([{"text": line.text, "box": _box(line.box) if line.box else None} for line in sample.ocr_lines]),
        "actions": _json(
            [
                {
                    "type": action.type,
                    "box": _box(action.box) if action.box else None,
                    "point": list(action.point) if action.point else None,
                    "text": action.text,
                }
                for action in sample.actions
            ]
        ),
        "annotator": sample.annotator,
        "round": str(sample.round),
        "gold": "true" if sample.gold else "false",
    }


def neutralised(cell: str) -> str:
    """``cell`` with a ``'`` before it when a spreadsheet would read it as a formula, else unchanged."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export(samples: Iterable[Sample], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
    """Write ``<dataset>.csv``, a row per sample as it comes."""
    path = folder / f"{dataset}.csv"
    with atomic_open(path) as handle, io.TextIOWrapper(handle, encoding=ENCODING, newline="") as text:
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for sample in samples:
            writer.writerow({column: neutralised(value) for column, value in row(sample, IMAGE_PREFIX).items()})
    return [path]
