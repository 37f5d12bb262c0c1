"""CSV for spreadsheets: one row per sample, UTF-8 with BOM, RFC 4180 quoting."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from export_samples import COCO, caption_sample, gui_sample, multi_image_sample, path_of, video_path_of, video_sample

from vlforge.config import Recipe
from vlforge.export.csv import COLUMNS, export, neutralised, row
from vlforge.records import Turn

TRICKY = 'He said "hi, there",\nthen left. 胡萝卜，中文逗号'


def tricky_sample():  # type: ignore[no-untyped-def]
    return caption_sample().model_copy(
        update={"conversations": (Turn(role="user", content="<image>Describe, please."), Turn(role="assistant", content=TRICKY))}
    )


def test_row_values() -> None:
    assert row(multi_image_sample(), "../../images") == {
        "sample_id": "multi-1",
        "task_type": "vqa",
        "images": json.dumps(["../../images/" + "b" * 64 + ".png", "../../images/" + "c" * 64 + ".png"]),
        "videos": "[]",
        "question": "What changed between the two screens?",
        "answer": "The dialog closed.",
        "boxes": '[{"label": "dialog", "x1": 50.0, "y1": 25.0, "x2": 150.0, "y2": 75.0, "image_index": 1}]',
        "ocr_lines": "[]",
        "actions": "[]",
        "annotator": "",
        "round": "1",
        "gold": "false",
    }


def test_video_sample_lists_its_videos_and_drops_the_tags() -> None:
    values = row(video_sample(), "../../images")
    assert (values["images"], values["videos"]) == ("[]", json.dumps([video_path_of(video_sample().videos[0])]))
    assert (values["question"], values["answer"]) == ("What's in the video?", "A baby is playing in the living room.")


def test_gui_actions_column() -> None:
    assert json.loads(row(gui_sample(), "../../images")["actions"]) == [
        {"type": "click", "box": {"label": "", "x1": 880.0, "y1": 380.0, "x2": 970.0, "y2": 430.0, "image_index": 0}, "point": None, "text": "MUSIC"}
    ]


def test_file_is_excel_friendly_and_reads_back(tmp_path: Path, recipe: Recipe) -> None:
    (path,) = export([tricky_sample(), multi_image_sample()], tmp_path / "csv", "ds", recipe)
    assert path == tmp_path / "csv/ds.csv"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + b"sample_id,task_type,images,videos,question,answer,")  # BOM, then the header
    assert data.count(b"\r\n") == 3  # header + 2 records; the line break inside the quoted answer stays "\n"
    assert data.count(b"\n") == 4
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [list(item) for item in rows] == [list(COLUMNS)] * 2
    assert rows[0]["answer"] == TRICKY
    assert rows[0]["question"] == "Describe, please."
    assert json.loads(rows[0]["images"]) == [path_of(COCO)]
    assert rows[1] == row(multi_image_sample(), "../../images")
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert frame.loc[0, "answer"] == TRICKY
    assert len(frame) == 2


def test_quoting_follows_rfc_4180(tmp_path: Path, recipe: Recipe) -> None:
    (path,) = export([tricky_sample()], tmp_path, "ds", recipe)
    text = path.read_bytes().decode("utf-8-sig")
    assert '"He said ""hi, there"",\nthen left. 胡萝卜，中文逗号"' in text
    assert list(csv.reader(io.StringIO(text, newline="")))[1][COLUMNS.index("answer")] == TRICKY
    assert COLUMNS.index("answer") == 5


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2 degrees", "'-2 degrees"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("a = b - c", "a = b - c"),  # only the first character counts
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_formula_like_cells_get_a_leading_quote(cell: str, written: str) -> None:
    assert neutralised(cell) == written
