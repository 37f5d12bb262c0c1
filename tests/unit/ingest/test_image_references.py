"""How an image reference in an export is resolved to bytes, and how the bytes are stored (once, by sha256)."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from vlforge.ingest import base


def _ls_tasks(*images: str) -> list[dict]:
    """One Label Studio task per image, each with one 'cat' rectangle at 10%,20% sized 30%x40%."""
    rectangle = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["cat"]}
    result = {"id": "r1", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "value": rectangle}
    return [
        {"id": number, "data": {"image": image}, "annotations": [{"id": number * 10, "completed_by": 7, "result": [result]}]}
        for number, image in enumerate(images, start=1)
    ]


# (reference in the export, where the file lies relative to tmp_path); the export is export/tasks.json, images_root is root/.
REFERENCES = [
    ("/data/upload/3/photo.png", "export/3/photo.png"),
    ("/data/upload/3/1a2b3c4d-photo.png", "export/photo.png"),  # Label Studio's hash prefix on uploaded names
    ("/data/local-files/?d=local/photo.png", "root/local/photo.png"),
    ("/data/local-files/?d=deep%2Fer%2Fphoto.png", "root/deep/er/photo.png"),  # URL-encoded, under images_root
    ("images/photo.png", "export/images/photo.png"),  # relative to the export file
    ("only/in/root.png", "root/only/in/root.png"),
    ("file:///{tmp}/export/by_url.png", "export/by_url.png"),
]


@pytest.mark.parametrize(("reference", "location"), REFERENCES, ids=[reference for reference, _ in REFERENCES])
def test_reference_resolves_to_the_file(reference, location, tmp_path, ingest, stand_in, write_json, sha256, xyxy):
    data = stand_in(tmp_path / location, 60, 30)
    reference = reference.replace("/{tmp}", str(tmp_path))
    export = write_json(tmp_path / "export" / "tasks.json", _ls_tasks(reference))
    (tmp_path / "root").mkdir(exist_ok=True)

    run = ingest(export, "label_studio", images_root=tmp_path / "root")

    assert run.quarantine == []
    (sample,) = run.samples
    assert (sample.source.file, sample.source.record_id, sample.annotator) == ("tasks.json", "task 1/annotation 10", "7")
    assert (sample.images[0].sha256, sample.images[0].width, sample.images[0].height) == (sha256(data), 60, 30)
    x1, y1 = 10 / 100 * 60, 20 / 100 * 30
    assert xyxy(sample.boxes[0]) == pytest.approx((x1, y1, x1 + 30 / 100 * 60, y1 + 40 / 100 * 30))


def test_unresolvable_reference_is_quarantined(tmp_path, ingest, write_json):
    export = write_json(tmp_path / "tasks.json", _ls_tasks("/data/upload/9/0badcafe-gone.png"))

    run = ingest(export, "label_studio")

    assert run.quarantine == [
        {
            "source_file": "tasks.json",
            "record_id": "task 1/annotation 10",
            "reason": "image file not found (looked at: 9/0badcafe-gone.png, gone.png)",
            "field": "data.image",
            "value": "/data/upload/9/0badcafe-gone.png",
        }
    ]


def test_several_images_roots_are_tried_in_order(tmp_path, ingest, stand_in, write_json, sha256):
    first = stand_in(tmp_path / "originals" / "both.png", 60, 30, (200, 0, 0))
    stand_in(tmp_path / "label-studio" / "both.png", 60, 30, (0, 200, 0))
    only_second = stand_in(tmp_path / "label-studio" / "releases" / "r1" / "images" / "reviewed.png", 40, 20)
    references = ["both.png", "/data/local-files/?d=releases/r1/images/reviewed.png", "nowhere.png"]
    export = write_json(tmp_path / "export" / "tasks.json", _ls_tasks(*references))

    run = ingest(export, "label_studio", images_root=[tmp_path / "originals", tmp_path / "label-studio"])

    assert [sample.images[0].sha256 for sample in run.samples] == [sha256(first), sha256(only_second)]
    # Each root is named by its place in the list, so the reason does not depend on where the data lies.
    looked_at = "nowhere.png, <images_root>/nowhere.png, <images_root[1]>/nowhere.png"
    assert [line["reason"] for line in run.quarantine] == [f"image file not found (looked at: {looked_at})"]


@pytest.mark.parametrize(("images_root", "named"), [([""], "['']"), (["ok", 3], "[3]")])
def test_a_bad_images_root_entry_is_refused_naming_it(tmp_path, recipe, store, write_json, images_root, named):
    from vlforge.ingest import ingest_source

    export = write_json(tmp_path / "tasks.json", _ls_tasks("a.png"))
    with pytest.raises(ValueError, match=re.escape(f"images_root entries must be non-empty folder paths or URIs; got {named}")):
        ingest_source(str(export), "label_studio", store, recipe, images_root)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served by a local HTTP server on 127.0.0.1, and the server's base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_url_is_downloaded(tmp_path, http_root, ingest, stand_in, write_json, sha256):
    served, base = http_root
    data = stand_in(served / "pics" / "web.png", 40, 20)
    export = write_json(tmp_path / "export" / "tasks.json", _ls_tasks(f"{base}/pics/web.png", f"{base}/pics/absent.png"))

    run = ingest(export, "label_studio")

    (sample,) = run.samples
    assert (sample.source.record_id, sample.images[0].sha256, sample.images[0].width, sample.images[0].height) == (
        "task 1/annotation 10",
        sha256(data),
        40,
        20,
    )
    assert run.quarantine == [
        {
            "source_file": "tasks.json",
            "record_id": "task 2/annotation 20",
            "reason": "image URL could not be downloaded (HTTP Error 404: File not found) and not found at: pics/absent.png",
            "field": "data.image",
            "value": f"{base}/pics/absent.png",
        }
    ]


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A unique folder on fsspec's in-memory file system, removed afterwards."""
    filesystem = fsspec.filesystem("memory")
    root = f"/vlforge-test-{uuid.uuid4().hex}"
    filesystem.mkdir(root)
    try:
        yield root
    finally:
        filesystem.rm(root, recursive=True)


def test_fsspec_memory_source(memory_root, tmp_path, ingest, stand_in, sha256):
    filesystem = fsspec.filesystem("memory")
    data = stand_in(tmp_path / "scratch.png", 24, 12)
    filesystem.pipe(f"{memory_root}/export/photos/p.png", data)
    good = '{"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "Red."}], "images": ["photos/p.png"]}'
    escaping = good.replace("photos/p.png", "../../etc/passwd")
    filesystem.pipe(f"{memory_root}/export/chat.jsonl", f"{good}\n{escaping}\n".encode())

    run = ingest(f"memory://{memory_root}/export/chat.jsonl", "llamafactory")

    (sample,) = run.samples
    assert (sample.source.file, sample.source.record_id) == ("chat.jsonl", "line 1")
    assert (sample.images[0].sha256, sample.images[0].width, sample.images[0].height) == (sha256(data), 24, 12)
    assert run.quarantine == [
        {
            "source_file": "chat.jsonl",
            "record_id": "line 2",
            "reason": "image path leads outside the export's folder and images_root",
            "field": "images[0]",
            "value": "../../etc/passwd",
        }
    ]


def test_same_image_referenced_twice_is_stored_once(tmp_path, ingest, stand_in, write_json, sha256):
    data = stand_in(tmp_path / "export" / "photo.png", 60, 30)
    other = stand_in(tmp_path / "export" / "other.png", 60, 30, color=(0, 0, 255))
    # Two spellings of the same file, and a byte-identical copy under another name.
    (tmp_path / "export" / "copy.png").write_bytes(data)
    export = write_json(
        tmp_path / "export" / "tasks.json",
        _ls_tasks("photo.png", "/data/upload/1/1a2b3c4d-photo.png", "copy.png", "other.png"),
    )

    run = ingest(export, "label_studio")

    assert run.quarantine == [] and len(run.samples) == 4
    assert [s.images[0].sha256 for s in run.samples] == [sha256(data)] * 3 + [sha256(other)]
    stored = run.stored_files()
    assert [path.name for path in stored] == sorted(f"{sha256(content)}.png" for content in (data, other))
    assert all(path.name == f"{sha256(path.read_bytes())}.png" and path.parent.name == path.name[:2] for path in stored)

    # Ingesting again adds nothing to the store.
    again = ingest(export, "label_studio")
    assert again.stored_files() == stored


def test_an_image_used_again_after_the_recent_ones_moved_on_is_read_again_to_the_same_ref(
    tmp_path, ingest, stand_in, write_json, sha256, monkeypatch
):
    monkeypatch.setattr(base, "RECENT_MEDIA", 1)  # remembered: only the image stored last
    data = stand_in(tmp_path / "export" / "photo.png", 60, 30)
    other = stand_in(tmp_path / "export" / "other.png", 40, 20, color=(0, 0, 255))
    export = write_json(
        tmp_path / "export" / "tasks.json", _ls_tasks("photo.png", "other.png", "photo.png", "gone.png", "photo.png")
    )
    reads: list[str] = []
    real_read = base.IngestContext._read

    def counted_read(self, reference, *args):
        reads.append(reference)
        return real_read(self, reference, *args)

    monkeypatch.setattr(base.IngestContext, "_read", counted_read)

    run = ingest(export, "label_studio")

    assert [record["record_id"] for record in run.quarantine] == ["task 4/annotation 40"]
    refs = [(sample.images[0].sha256, sample.images[0].width) for sample in run.samples]
    assert refs == [(sha256(data), 60), (sha256(other), 40), (sha256(data), 60), (sha256(data), 60)]
    assert reads == ["photo.png", "other.png", "photo.png", "gone.png", "photo.png"]
