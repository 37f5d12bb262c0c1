"""The bad-input corpus: broken and unusual media and source files, built from the real fixture files.

Nothing here is committed but this script: every image is made, at test time and into a folder the
test owns, from the real files in ``../shared/fixtures`` (MANIFEST.md there gives their origin and
licence), and the big or dangerous artefacts (the decompression bomb, the 200 MB line) are generated
the same way, never kept in the repository. ``tests/unit/ingest/test_bad_input_corpus.py`` holds the
table of cases and what each must come to.

- ``build_media``: every image case, one file each (see ``MEDIA``);
- ``write_source``: one source in any ingest format (Label Studio, COCO, YOLO, LLaMA-Factory,
  Qwen-VL finetune) from format-neutral ``Record``s, their images placed beside it;
- ``prepend_big_line``: a file with a line of N bytes before its content, written in blocks.

Run it to look at the corpus: ``python tests/data/bad/build_corpus.py OUT`` writes the media into OUT.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"  # ../shared/fixtures beside the repository
PHOTO = "images_from_wheels/sklearn/china.jpg"  # 640x427: the good image and the one boxes are drawn on
PORTRAIT = "debian_python-matplotlib-data_3.6.3-1/grace_hopper.jpg"
EXIF_ROTATED = "label_studio_ml_backend_tesseract/test_images/image_has_exif_orientation.jpeg"  # stored 1349x1080, Orientation 6
RGBA_LOGO = "images_from_wheels/skimage/logo.png"
ANIMATED_GIF = "images_from_wheels/skimage/no_time_for_that_tiny.gif"
BOMB_SIDE = 20_000  # 400 million pixels: over twice Pillow's MAX_IMAGE_PIXELS (89,478,485), so Pillow refuses it
BLOCK = 1 << 20


def _saved(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def truncated_jpeg(fixtures: Path) -> bytes:
    data = (fixtures / PHOTO).read_bytes()
    return data[: len(data) // 2]


def gray16_png(fixtures: Path) -> bytes:
    """The portrait as a 16-bit greyscale PNG (mode ``I;16``), its 8-bit values spread over 16 bits."""
    pixels = np.asarray(Image.open(fixtures / PORTRAIT).convert("L"), dtype=np.uint16) * 257
    return _saved(Image.fromarray(pixels), "PNG")


def cmyk_jpeg(fixtures: Path) -> bytes:
    return _saved(Image.open(fixtures / PORTRAIT).convert("CMYK"), "JPEG", quality=90)


def palette_png(fixtures: Path) -> bytes:
    return _saved(Image.open(fixtures / PORTRAIT).convert("P", palette=Image.Palette.ADAPTIVE), "PNG")


def multipage_tiff(fixtures: Path) -> bytes:
    first = Image.open(fixtures / PORTRAIT).convert("RGB")
    second = Image.open(fixtures / PHOTO).convert("RGB").resize(first.size)
    return _saved(first, "TIFF", save_all=True, append_images=[second], compression="tiff_deflate")


def decompression_bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid 1-bit black PNG of ``side`` x ``side`` pixels: about 50 KB that would decode to 50 MB and more.

    Written chunk by chunk (signature, IHDR, one zlib IDAT of zero rows, IEND), so making it never holds the image.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then the row's bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>\n'
)

# Image case name -> its file name and how it is made from the fixtures folder.
MEDIA: dict[str, tuple[str, Callable[[Path], bytes]]] = {
    "photo": ("photo.jpg", lambda fixtures: (fixtures / PHOTO).read_bytes()),
    "truncated JPEG": ("truncated.jpg", truncated_jpeg),
    "0-byte file": ("empty.jpg", lambda fixtures: b""),
    "PNG decompression bomb": ("bomb.png", lambda fixtures: decompression_bomb_png()),
    "16-bit PNG": ("gray16.png", gray16_png),
    "CMYK JPEG": ("cmyk.jpg", cmyk_jpeg),
    "palette PNG": ("palette.png", palette_png),
    "alpha PNG": ("alpha.png", lambda fixtures: (fixtures / RGBA_LOGO).read_bytes()),
    "EXIF-rotated JPEG": ("exif_rotated.jpg", lambda fixtures: (fixtures / EXIF_ROTATED).read_bytes()),
    "animated GIF": ("animated.gif", lambda fixtures: (fixtures / ANIMATED_GIF).read_bytes()),
    "multi-frame TIFF": ("multipage.tiff", multipage_tiff),
    "SVG": ("drawing.svg", lambda fixtures: SVG),
}


def build_media(folder: Path, fixtures: Path = FIXTURES) -> dict[str, Path]:
    """Write every ``MEDIA`` file into ``folder``.

    Returns:
        Each case name's file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for case, (name, make) in MEDIA.items():
        written[case] = folder / name
        written[case].write_bytes(make(fixtures))
    return written


@dataclass(frozen=True)
class Record:
    """One annotated image, in no format yet.

    Attributes:
        image: the image reference as the source file writes it (a file name beside the source, a path, a URL).
        box: ``x, y, width, height`` in pixels of ``image_size``, or None for a caption record.
        caption: the text (a caption, or an answer in the conversation formats).
        record_id: the record's own id where the format has one (Label Studio task, COCO image, conversation ``id``).
        label: the box's class.
    """

    image: str
    box: tuple[float, float, float, float] | None = None
    caption: str = "A street in a Chinese town."
    record_id: int | None = None
    label: str = "temple"


IMAGE_SIZE = (640, 427)  # the photo's: Label Studio percent and YOLO fractions are of this size


def write_source(source_format: str, folder: Path, records: list[Record], media: dict[str, Path], jsonl: bool = False) -> Path:
    """Write ``records`` as a ``source_format`` source in ``folder``, with ``media`` (name -> file) copied beside it.

    Returns:
        The source to ingest: the export file, or the YOLO folder. Its text file (export, or YOLO's
        ``classes.txt``) is UTF-8 without a byte-order mark; cases change its bytes afterwards.
    """
    folder.mkdir(parents=True, exist_ok=True)
    media_folder = folder / "images" if source_format == "yolo" else folder
    media_folder.mkdir(exist_ok=True)
    for name, path in media.items():
        shutil.copyfile(path, media_folder / name)
    if source_format == "yolo":
        return _yolo(folder, records)
    path = folder / ("chat.jsonl" if jsonl else "export.json")
    if source_format == "coco":
        text = json.dumps(_coco(records), ensure_ascii=False)
    else:
        documents = [_WRITERS[source_format](index, record) for index, record in enumerate(records)]
        lines = [json.dumps(document, ensure_ascii=False) + "\n" for document in documents]
        text = "".join(lines) if jsonl else json.dumps(documents, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def text_file(source: Path) -> Path:
    """The text file of a source ``write_source`` wrote: the export, or a YOLO folder's ``classes.txt``."""
    return source / "classes.txt" if source.is_dir() else source


def _percent(record: Record) -> dict[str, float]:
    assert record.box is not None
    x, y, width, height = record.box
    image_w, image_h = IMAGE_SIZE
    return {"x": x / image_w * 100, "y": y / image_h * 100, "width": width / image_w * 100, "height": height / image_h * 100}


def _label_studio(index: int, record: Record) -> dict[str, object]:
    caption = {"id": "c", "from_name": "caption", "to_name": "image", "type": "textarea", "value": {"text": [record.caption]}}
    results: list[dict[str, object]] = [caption]
    if record.box is not None:
        value = {**_percent(record), "rotation": 0, "rectanglelabels": [record.label]}
        results.insert(0, {"id": "r", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "value": value})
    task_id = record.record_id if record.record_id is not None else index + 1
    return {"id": task_id, "data": {"image": record.image}, "annotations": [{"id": 1, "completed_by": 1, "result": results}]}


def _coco(records: list[Record]) -> dict[str, object]:
    images, annotations = [], []
    for index, record in enumerate(records):
        image_id = record.record_id if record.record_id is not None else index + 1
        images.append({"id": image_id, "file_name": record.image})
        annotation: dict[str, object] = {"id": index + 1, "image_id": image_id}
        if record.box is None:
            annotation["caption"] = record.caption
        else:
            annotation.update(category_id=1, bbox=list(record.box), area=record.box[2] * record.box[3], iscrowd=0)
        annotations.append(annotation)
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": records[0].label}]}


def _llamafactory(index: int, record: Record) -> dict[str, object]:
    turns = [{"role": "user", "content": "<image>What is in this picture?"}, {"role": "assistant", "content": record.caption}]
    document: dict[str, object] = {"messages": turns, "images": [record.image]}
    return document if record.record_id is None else {"id": record.record_id, **document}


def _qwen(index: int, record: Record) -> dict[str, object]:
    turns = [{"from": "human", "value": "<image>\nWhat is in this picture?"}, {"from": "gpt", "value": record.caption}]
    document: dict[str, object] = {"image": record.image, "conversations": turns}
    return document if record.record_id is None else {"id": record.record_id, **document}


_WRITERS: dict[str, Callable[[int, Record], dict[str, object]]] = {
    "label_studio": _label_studio,
    "llamafactory": _llamafactory,
    "qwen": _qwen,
}


def _yolo(folder: Path, records: list[Record]) -> Path:
    """``images/`` (already placed), ``labels/<stem>.txt`` per record (empty without a box) and ``classes.txt``."""
    image_w, image_h = IMAGE_SIZE
    (folder / "labels").mkdir(exist_ok=True)
    for record in records:
        line = ""
        if record.box is not None:
            x, y, width, height = record.box
            line = f"0 {(x + width / 2) / image_w} {(y + height / 2) / image_h} {width / image_w} {height / image_h}\n"
        (folder / "labels" / Path(record.image).with_suffix(".txt").name).write_text(line, encoding="utf-8")
    (folder / "classes.txt").write_text(records[0].label + "\n", encoding="utf-8")
    return folder


def prepend_big_line(path: Path, size: int) -> None:
    """Put a line of ``size`` bytes, its end not counted (``{"padding": "aaa..."}``), before ``path``'s content, in blocks.

    A ``.json`` file becomes an array whose first element is that object, then the file's records (or its one object).
    """
    original = path.read_bytes()
    json_array = path.suffix == ".json"
    head = b'[{"padding": "' if json_array else b'{"padding": "'
    tail = b'"},' if json_array else b'"}'
    fill = size - len(head) - len(tail)
    with path.open("wb") as handle:
        handle.write(head)
        for start in range(0, fill, BLOCK):
            handle.write(b"a" * min(BLOCK, fill - start))
        handle.write(tail)
        if not json_array:
            handle.write(b"\n" + original)
        elif original.startswith(b"["):
            handle.write(original.removeprefix(b"["))
        else:  # one object (COCO): it becomes the array's second element
            handle.write(original + b"]")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/bad/build_corpus.py OUT_FOLDER")
    for case, path in build_media(Path(sys.argv[1])).items():
        print(f"{case:24} {path} ({path.stat().st_size} bytes)")
