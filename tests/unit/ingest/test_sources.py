"""Reading JSON Lines in blocks: line numbers, byte offsets and sizes, over-long lines counted but not kept."""

from __future__ import annotations

import io

import pytest

from vlforge.ingest import sources
from vlforge.ingest.base import RecordError
from vlforge.ingest.sources import Line, bounded_lines, decode_utf8


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        (b"", 10, []),
        (b"ab\ncd\n", 10, [Line(1, 0, 2, b"ab"), Line(2, 3, 2, b"cd")]),
        (b"ab\r\ncd", 10, [Line(1, 0, 2, b"ab"), Line(2, 4, 2, b"cd")]),  # CRLF; a last line without its end
        (b"\n\nxyz\n", 10, [Line(1, 0, 0, b""), Line(2, 1, 0, b""), Line(3, 2, 3, b"xyz")]),
        (b"abcdefghij\nk\n", 10, [Line(1, 0, 10, b"abcdefghij"), Line(2, 11, 1, b"k")]),  # exactly the limit: kept
        (b"abcdefghijk\nl\n", 10, [Line(1, 0, 11, None), Line(2, 12, 1, b"l")]),  # one byte over: counted, not kept
        (b"a" * 25 + b"\n" + b"b" * 3, 10, [Line(1, 0, 25, None), Line(2, 26, 3, b"bbb")]),
    ],
)
def test_bounded_lines_across_blocks(monkeypatch, data, limit, expected):
    monkeypatch.setattr(sources, "BLOCK_BYTES", 4)  # every line above spans blocks
    assert list(bounded_lines(io.BytesIO(data), limit)) == expected


def test_decode_names_the_first_bad_byte_and_its_file_offset():
    assert decode_utf8(b"\xef\xbb\xbf{}", "file") == "{}"  # the byte-order mark is the encoding's, not content
    with pytest.raises(RecordError) as raised:
        decode_utf8('{"a": "caf\u00e9"}'.encode("latin-1"), "line", offset=100)
    assert (raised.value.reason, raised.value.field, raised.value.value) == (
        "not UTF-8: byte 0xe9 at byte offset 110 (invalid continuation byte); re-save the file as UTF-8",
        "line",
        '{"a": "caf\\xe9"}',
    )


# Well-formed and malformed JSON files: each streamed array must give what json.loads of the whole file gives.
ARRAYS = [
    b"[]",
    b" [ ]\n",
    b"[1]",
    b"[1, 2 ,\n 3]\n",
    b"[12345678901234, 3.25e10, -0.5]",
    b'[{"a": "caf\xc3\xa9 \xe5\x8c\x97\xe4\xba\xac"}, {"b": [1, 2, {"c": null}]}]',
    b"\xef\xbb\xbf[1, true, false, null]",
    b'["a\\u00e9", "tab\\t"]',
    b"[1,]",
    b"[1",
    b"[",
    b"[1 2]",
    b"[1] x",
    b"[1]]",
    b"[1]\n\n  {",
    b"[tru]",
    b'[\n {"a": 1},\n {"a": 2\n  "b": 3}\n]',
    b'[\n{"x": "unterminated}\n]',
    b'[{"a": "caf\xe9"}]',
    b'["\xe5\x8c"]',
]


def _whole(data: bytes) -> tuple[str, object]:
    try:
        return "read", sources.parse_json(decode_utf8(data, "file"), "file", "export.json", multiline=True)
    except RecordError as error:
        return error.reason, error.value


@pytest.mark.parametrize("data", ARRAYS)
def test_a_streamed_array_reads_as_json_loads_of_the_whole_file(monkeypatch, tmp_path, data):
    monkeypatch.setattr(sources, "BLOCK_BYTES", 3)  # every value and every error spans blocks
    path = tmp_path / "export.json"
    path.write_bytes(data)
    assert sources._is_array(str(path))
    expected = _whole(data)
    try:
        streamed: tuple[str, object] = "read", list(sources._array_elements(str(path), "export.json"))
    except RecordError as error:
        streamed = error.reason, error.value
    assert streamed[0] == expected[0]
    if expected[0] == "read" or "not UTF-8" not in expected[0]:  # the bytes around a bad byte are those of its block
        assert streamed[1] == expected[1]
