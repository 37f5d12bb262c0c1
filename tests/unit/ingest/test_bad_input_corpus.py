"""The bad-input corpus (``tests/data/bad/build_corpus.py``) through the real ingest, in every source format it applies to.

One row of ``CASES`` per bad input: the records a source holds and what each must come to, released
(``Read``) or quarantined with a reason that says why. For every row and format: no crash and no hang,
``rows_in == rows_ok + rows_quarantined`` (the ``ingest`` fixture), every quarantine line names the file,
the record, the field and the value, no byte-order mark leaks into a released value, and nothing is
written outside the run folder, the image store and the release folder (the source tree, the rest of the
home folder and the system temporary folder are compared before and after). The CSV row also writes
the release's CSV and Parquet exports.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import shutil
import socket
import socketserver
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vlforge.config import Recipe, load_recipe
from vlforge.export import export_all
from vlforge.store import ImageStore

_BUILD = Path(__file__).resolve().parents[2] / "data" / "bad" / "build_corpus.py"
_spec = importlib.util.spec_from_file_location("build_corpus", _BUILD)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["build_corpus"] = corpus  # dataclasses look their module up by name
_spec.loader.exec_module(corpus)
Record = corpus.Record

FORMATS = ("label_studio", "coco", "yolo", "llamafactory", "qwen")
BOXED = ("label_studio", "coco", "yolo")  # the formats that carry boxes
NAMED = ("label_studio", "coco", "llamafactory", "qwen")  # records name their image; YOLO lists its images/ folder
CONVERSATIONS = ("llamafactory", "qwen")  # read from JSON Lines too
DOWNLOAD_TIMEOUT_S = 1.0
NO_HANG_S = 60.0  # every ingest here ends well within this; the URL case within its timeout and a margin
BIG_LINE_BYTES = 200 * 2**20
# Reading past a 200 MB line holds at most what ingest.max_record_bytes (64 MiB) lets a line hold, and a few 1 MiB blocks.
BIG_LINE_PEAK_BYTES = 64 * 2**20 + 8 * 2**20
WRITABLE = ("runs", "store", "releases")  # under the home folder: the run folder, the image store, the release folder


@dataclass(frozen=True)
class Read:
    """The record is released; ``size``, when given, is its image's size once decoded and upright."""

    size: tuple[int, int] | None = None


Outcome = Read | str  # released, or a substring of its quarantine reason


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        name: what is bad.
        formats: the source formats it applies to.
        records: each record with its outcome. ``{outside}``, ``{silent_url}`` and ``{trickle_url}`` in an image
            reference become a file outside the source's folder, the URL of a server that never answers, and
            that of one that sends a byte now and then.
        media: (file name, ``build_corpus.MEDIA`` case) placed beside the source (YOLO: in ``images/``) when a record names it.
        change: alters the written source (its path and the corpus folder) before ingest.
        extra: reasons of the rows ``change`` adds (the records' outcomes still hold).
        file_reason: the whole file is rejected with this reason, so no record is reached.
        jsonl: write JSON Lines (the conversation formats).
        csv: also write the release's CSV and Parquet exports and check the cells.
    """

    name: str
    formats: tuple[str, ...]
    records: tuple[tuple[Record, Outcome], ...]
    media: tuple[tuple[str, str], ...] = (("photo.jpg", "photo"), ("boxed.jpg", "photo"))
    change: Callable[[Path, Path], None] | None = None
    extra: tuple[str, ...] = ()
    file_reason: str = ""
    jsonl: bool = False
    csv: bool = False


GOOD = (Record("photo.jpg"), Read((640, 427)))
NAN = math.nan
NOT_DECODED = "image cannot be decoded (not a known image format)"
OUTSIDE = "image path leads outside the export's folder and images_root"
NOT_UTF8 = "not UTF-8: byte 0xe9 at byte offset "
FORMULAS = ('=HYPERLINK("http://example.invalid/x","click")', "+1 555 0100", "-2 degrees outside", "@SUM(A1:A9)")


def _image_case(name: str, outcome: Outcome, formats: tuple[str, ...] = FORMATS, file_name: str = "") -> Case:
    file_name = file_name or corpus.MEDIA[name][0]
    return Case(name, formats, (GOOD, (Record(file_name), outcome)), media=(("photo.jpg", "photo"), (file_name, name)))


def _box_case(name: str, box: tuple[float, float, float, float], outcome: str) -> Case:
    return Case(name, BOXED, (GOOD, (Record("boxed.jpg", box=box), outcome)))


def _add_bom(source: Path, folder: Path) -> None:
    path = corpus.text_file(source)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _as_latin1(source: Path, folder: Path) -> None:
    path = corpus.text_file(source)
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


def _cafe_as_latin1(source: Path, folder: Path) -> None:
    """Only the word café in Latin-1, the rest UTF-8 (CJK included): a file of mixed encodings."""
    path = corpus.text_file(source)
    path.write_bytes(path.read_bytes().replace("café".encode(), "café".encode("latin-1")))


def _latin1_label_file(source: Path, folder: Path) -> None:
    label = source / "labels" / "boxed.txt"
    label.write_bytes(label.read_bytes() + "# café\n".encode("latin-1"))


def _big_line(source: Path, folder: Path) -> None:
    corpus.prepend_big_line(corpus.text_file(source), BIG_LINE_BYTES)


def _link_outside(source: Path, folder: Path) -> None:
    link_folder = source / "images" if source.is_dir() else source.parent
    (link_folder / "link.jpg").symlink_to(folder / "outside.jpg")


def _append_line(text: str) -> Callable[[Path, Path], None]:
    def append(source: Path, folder: Path) -> None:
        with source.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")

    return append


CASES = [
    _image_case("truncated JPEG", "image cannot be decoded (image file is truncated"),
    _image_case("0-byte file", NOT_DECODED),
    _image_case("PNG decompression bomb", "image is too large to decode: Image size (400000000 pixels) exceeds limit of"),
    _image_case("16-bit PNG", Read((512, 600))),
    _image_case("CMYK JPEG", Read((512, 600))),
    _image_case("palette PNG", Read((512, 600))),
    _image_case("alpha PNG", Read((500, 500))),
    _image_case("EXIF-rotated JPEG", Read((1080, 1349))),  # stored 1349x1080 with Orientation 6: stored upright
    _image_case("animated GIF", Read((14, 25)), NAMED),  # YOLO reads .jpg .png .bmp .webp .tif only, as Ultralytics
    _image_case("multi-frame TIFF", Read((512, 600))),
    _image_case("SVG", NOT_DECODED, NAMED),
    _image_case("SVG", NOT_DECODED, file_name="drawing_saved_as.png"),
    _box_case("NaN x coordinate", (NAN, 40, 200, 80), "has a coordinate that is not a finite number (x1, x2)"),
    _box_case("negative x coordinate", (-100, 40, 200, 80), "lies outside the 640x427 image"),
    _box_case("swapped x coordinates (negative width)", (300, 40, -200, 80), "has x1>=x2 or y1>=y2"),
    _box_case("huge box", (0, 0, 1e12, 1e12), "lies outside the 640x427 image"),
    Case(
        "duplicate record ids",
        NAMED,
        ((Record("photo.jpg", box=(100, 40, 200, 80), record_id=7), Read()),
         (Record("boxed.jpg", box=(120, 40, 200, 80), record_id=7), "record id appears twice in the source")),
    ),  # fmt: skip
    Case("../ path outside the source folder", NAMED, (GOOD, (Record("../outside.jpg"), OUTSIDE))),
    Case("absolute path outside the source folder", NAMED, (GOOD, (Record("{outside}"), "image file not found (looked at: "))),
    Case("symlink pointing outside the source folder", FORMATS, (GOOD, (Record("link.jpg"), OUTSIDE)), change=_link_outside),
    Case(
        "URL to a host that does not answer",
        NAMED,
        (GOOD, (Record("{silent_url}/silent.jpg"), "image URL could not be downloaded (timed out)")),
    ),
    Case(
        "URL to a host that sends a byte now and then",
        NAMED,
        (GOOD, (Record("{trickle_url}/slow.jpg"), "could not be downloaded (not downloaded within ingest.download_timeout_s")),
    ),
    Case("JSON with a byte-order mark", FORMATS, (GOOD, (Record("boxed.jpg", box=(100, 40, 200, 80)), Read())), change=_add_bom),
    Case("JSON Lines with a byte-order mark", CONVERSATIONS, (GOOD, (Record("boxed.jpg"), Read())), change=_add_bom, jsonl=True),
    Case(
        "non-UTF-8 (Latin-1) JSON",
        FORMATS,
        ((Record("photo.jpg", caption="Un café à Pékin.", label="café"), Read()),
         (Record("boxed.jpg", box=(100, 40, 200, 80), label="café"), Read())),
        change=_as_latin1,
        file_reason=NOT_UTF8,
    ),  # fmt: skip
    Case(
        "mixed-encoding JSON (UTF-8 with one Latin-1 word)",
        NAMED,
        ((Record("photo.jpg", caption="北京的胡同"), Read()), (Record("boxed.jpg", caption="Un café."), Read())),
        change=_cafe_as_latin1,
        file_reason=NOT_UTF8,
    ),
    Case(
        "mixed-encoding JSON Lines (one line Latin-1)",
        CONVERSATIONS,
        ((Record("photo.jpg", caption="北京的胡同"), Read()), (Record("boxed.jpg", caption="Un café."), NOT_UTF8)),
        change=_cafe_as_latin1,
        jsonl=True,
    ),
    Case(
        "non-UTF-8 YOLO label file",
        ("yolo",),
        (GOOD, (Record("boxed.jpg", box=(100, 40, 200, 80)), "label file is " + NOT_UTF8)),
        change=_latin1_label_file,
    ),
    Case(
        "JSON Lines line with a 5000-digit integer",
        CONVERSATIONS,
        (GOOD,),
        change=_append_line('{"id": ' + "9" * 5000 + "}"),
        extra=("malformed JSON: Exceeds the limit (4300 digits) for integer string conversion",),
        jsonl=True,
    ),
    Case(
        "JSON Lines line nested 100000 deep",
        CONVERSATIONS,
        (GOOD,),
        change=_append_line("[" * 100_000 + "]" * 100_000),
        extra=("malformed JSON: nested too deeply to parse",),
        jsonl=True,
    ),
    Case(
        "200 MB JSON line",
        CONVERSATIONS,
        (GOOD,),
        change=_big_line,
        extra=(f"line is {BIG_LINE_BYTES} bytes, over the ingest.max_record_bytes limit of 67108864; it was skipped unread",),
        jsonl=True,
    ),
    Case(
        "200 MB JSON line (a JSON file on one line)",
        ("label_studio", "coco", "llamafactory", "qwen"),
        (GOOD,),
        change=_big_line,
        file_reason="over the ingest.max_document_bytes limit of 134217728; a JSON file is parsed whole, so it was not read",
    ),
    Case(
        "CSV cells starting with = + - @",
        ("label_studio", "llamafactory"),
        tuple((Record("photo.jpg", caption=text), Read()) for text in FORMULAS),
        csv=True,
    ),
]
URL_CASES = ("URL to a host that does not answer", "URL to a host that sends a byte now and then")
SLOW = {"200 MB JSON line", "200 MB JSON line (a JSON file on one line)", *URL_CASES}
PARAMS = [
    pytest.param(case, source_format, id=f"{case.name}-{source_format}", marks=[pytest.mark.slow] if case.name in SLOW else [])
    for case in CASES
    for source_format in case.formats
]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> dict[str, Path]:
    return corpus.build_media(tmp_path_factory.mktemp("media"), fixtures_dir)


@pytest.fixture(scope="module")
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog does) and never answers: a read can only time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


class _Trickle(socketserver.BaseRequestHandler):
    """Answers 200 with a promised 1 MB body, then sends one byte every 0.1 s until the client hangs up."""

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n")
            while True:
                self.request.sendall(b"\xff")
                time.sleep(0.1)
        except OSError:
            return


@pytest.fixture(scope="module")
def trickle_url() -> Iterator[str]:
    """A server that answers at once and then sends a byte now and then: every read is quick, the download never ends."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def recipe() -> Recipe:
    """The default recipe with a short download timeout (the ``ingest`` fixture reads it)."""
    default = load_recipe("default")
    return default.model_copy(update={"ingest": default.ingest.model_copy(update={"download_timeout_s": DOWNLOAD_TIMEOUT_S})})


def _tree(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file and link under ``root`` with its size and modification time, links not followed."""
    found = {}
    for path in root.rglob("*"):
        status = path.lstat()
        if not path.is_dir() or path.is_symlink():
            found[path.relative_to(root)] = (status.st_size, status.st_mtime_ns)
    return found


def _unmatched(expected: list[str], reasons: list[str]) -> tuple[list[str], list[str]]:
    """The expected substrings no reason holds, and the reasons left over, each reason matched once."""
    left = list(reasons)
    missing = []
    for wanted in expected:
        match = next((reason for reason in left if wanted in reason), None)
        if match is None:
            missing.append(wanted)
        else:
            left.remove(match)
    return missing, left


@pytest.mark.parametrize(("case", "source_format"), PARAMS)
def test_bad_input(  # type: ignore[no-untyped-def]
    case, source_format, tmp_path, media, silent_url, trickle_url, ingest, recipe, monkeypatch, request
):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copyfile(media["photo"], folder / "outside.jpg")
    references = {"outside": folder / "outside.jpg", "silent_url": silent_url, "trickle_url": trickle_url}
    records = [replace(record, image=record.image.format(**references)) for record, _ in case.records]
    placed = {name: media[kind] for name, kind in case.media if name in {record.image for record in records}}
    source = corpus.write_source(source_format, folder / "source", records, placed, jsonl=case.jsonl)
    if case.change is not None:
        case.change(source, folder)
    if case.change is _big_line:  # 200 MB: not left behind in the kept temporary folders
        request.addfinalizer(corpus.text_file(source).unlink)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    before = _tree(tmp_path)

    measure_memory = case.name == "200 MB JSON line"
    if measure_memory:
        tracemalloc.start()
    started = time.monotonic()
    run = ingest(source, source_format)
    elapsed = time.monotonic() - started
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < BIG_LINE_PEAK_BYTES, f"reading past the 200 MB line allocated {peak} bytes"

    assert elapsed < NO_HANG_S
    for entry in run.quarantine:
        assert all(entry[key] for key in ("source_file", "record_id", "reason", "field", "value")), entry
    outcomes = [] if case.file_reason else [outcome for _, outcome in case.records]
    expected = [case.file_reason] if case.file_reason else [*case.extra, *(o for o in outcomes if isinstance(o, str))]
    assert _unmatched(expected, [entry["reason"] for entry in run.quarantine]) == ([], []), run.quarantine
    released = [outcome for outcome in outcomes if isinstance(outcome, Read)]
    assert len(run.samples) == len(released)
    sizes = [(image.width, image.height) for sample in run.samples for image in sample.images]
    assert all(outcome.size in sizes for outcome in released if outcome.size)
    assert "\ufeff" not in json.dumps([sample.model_dump(mode="json") for sample in run.samples], ensure_ascii=False)
    if case.name in URL_CASES:  # a URL costs at most twice the timeout; the margin is for a loaded machine
        assert DOWNLOAD_TIMEOUT_S <= elapsed < 2 * DOWNLOAD_TIMEOUT_S + 10
    if case.csv:
        _check_csv_and_parquet(run.samples, tmp_path, recipe, run.store_dir)

    after = _tree(tmp_path)
    changed = {path for path in after.keys() | before.keys() if after.get(path) != before.get(path)}
    assert sorted(path for path in changed if path.parts[0] not in WRITABLE) == []
    assert list(system_tmp.iterdir()) == []


def _check_csv_and_parquet(samples, home: Path, recipe: Recipe, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The CSV neutralises formula cells with a leading ``'``; the manifest and the Parquet export keep the text as annotated."""
    release = home / "releases" / "bad" / "1"
    for sample in samples:
        for image in sample.images:
            ImageStore(store_dir).link_into(image.sha256, image.format, release / "images")
    exports = recipe.model_copy(update={"export": recipe.export.model_copy(update={"formats": ["csv", "parquet"]})})
    export_all(samples, ["train"] * len(samples), release / "exports", "bad", exports)
    answers = [sample.conversations[-1].content for sample in samples]
    assert answers == list(FORMULAS)  # the manifest: as annotated
    text = (release / "exports" / "csv" / "bad_train.csv").read_text(encoding="utf-8-sig")
    assert [row["answer"] for row in csv.DictReader(io.StringIO(text))] == ["'" + answer for answer in FORMULAS]
    messages = pq.read_table(release / "exports" / "parquet" / "bad_train.parquet").column("messages").to_pylist()
    assert [turns[-1]["content"] for turns in messages] == list(FORMULAS)
