"""Media shared by the stages that read or make images and videos: decode, orient, probe, store.

Ingest puts every referenced image and video into the content-addressed store through here; the
augment stage probes the clips it makes the same way; OCR pre-annotation uses ``detect_language``.
A medium that cannot be used raises ``RecordError``, which the stages turn into a quarantine entry.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from vlforge.records import ImageRef, VideoRef
from vlforge.store import ImageStore, sha256_bytes

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff", "MPO": "jpg"}
_EXIF_ORIENTATION = 0x0112


class RecordError(Exception):
    """Raised inside an adapter to reject the record being read."""

    def __init__(self, reason: str, field: str = "", value: object = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.value = "" if value == "" else _short(value)


def _short(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def store_image(data: bytes, store: ImageStore, reference: str, field_name: str = "image") -> ImageRef:
    """Decode ``data``, apply its EXIF orientation and put it in the store.

    An image whose EXIF says it is rotated is stored rotated upright, so that
    trainers that ignore EXIF see the pixels the boxes were drawn on.

    Raises:
        RecordError: when the bytes are not a complete, decodable image, or declare more pixels than
            Pillow agrees to decode (``Image.MAX_IMAGE_PIXELS`` twice over: a decompression bomb).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image_format = image.format or ""
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation != 1:
                upright = ImageOps.exif_transpose(image)
                buffer = io.BytesIO()
                upright.save(buffer, format=image_format, quality=95)
                data = buffer.getvalue()
                image = upright
            width, height = image.size
    except Image.DecompressionBombError as error:
        # Pillow raises this from the header alone, before decoding: not an OSError, so it used to escape.
        raise RecordError(f"image is too large to decode: {error}", field_name, reference) from None
    except UnidentifiedImageError:
        # Pillow's message names the in-memory buffer's address, which would change the release hash on every run.
        raise RecordError("image cannot be decoded (not a known image format)", field_name, reference) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise RecordError(f"image cannot be decoded ({error})", field_name, reference) from None
    extension = _EXTENSIONS.get(image_format)
    if extension is None:
        raise RecordError(f"image format {image_format!r} is not supported", field_name, reference)
    digest = store.put(data, extension)
    return ImageRef(sha256=digest, width=width, height=height, format=extension)


def video_format(data: bytes) -> str | None:
    """The container of ``data`` from its first bytes, as a store extension, or None when unknown.

    ISO base media (``ftyp`` box at offset 4): ``mov`` for the QuickTime brand ``qt``, else ``mp4``;
    RIFF with form type ``AVI``: ``avi``; Matroska EBML header: ``webm`` when its doctype says so, else ``mkv``.
    """
    if data[4:8] == b"ftyp":
        return "mov" if data[8:12] == b"qt  " else "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in data[:64] else "mkv"
    return None


def store_video(data: bytes, store: ImageStore, reference: str, field_name: str = "videos") -> VideoRef:
    """Probe ``data`` with OpenCV (``probe_video``) and put it, unchanged, in the store.

    Raises:
        RecordError: as ``probe_video``.
    """
    ref = probe_video(data, reference, field_name)
    store.put(data, ref.format)
    return ref


def probe_video(data: bytes, reference: str, field_name: str = "videos") -> VideoRef:
    """The ``VideoRef`` of video bytes, probed with OpenCV; nothing is stored.

    The container is recognised from the bytes (``video_format``), the file is opened with
    ``cv2.VideoCapture`` from a temporary copy, and its first frame must decode. Width, height,
    frame rate and frame count are what the container declares; ``duration_s = frames / fps``.

    Raises:
        RecordError: when the bytes are not a known container, or OpenCV cannot open or decode them,
            or they declare no frames or no frame rate. The reason never names the temporary file.
    """
    import cv2  # only ingest of videos needs OpenCV

    extension = video_format(data)
    if extension is None:
        raise RecordError("video cannot be read (not an mp4, mov, avi, mkv or webm container)", field_name, reference)
    descriptor, temp_name = tempfile.mkstemp(suffix=f".{extension}")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        capture = cv2.VideoCapture(temp_name)
        try:
            if not capture.isOpened():
                raise RecordError(
                    f"video cannot be decoded (OpenCV cannot open this {extension} file: truncated, or a codec it lacks)",
                    field_name,
                    reference,
                )
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            decoded, _ = capture.read()
        finally:
            capture.release()
    finally:
        Path(temp_name).unlink(missing_ok=True)
    if not decoded:
        raise RecordError(f"video cannot be decoded (the first frame of the {extension} file does not decode)", field_name, reference)
    if frames <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise RecordError(
            f"video declares {frames} frames at {fps:g} fps and size {width}x{height}; all must be positive",
            field_name,
            reference,
        )
    return VideoRef(
        sha256=sha256_bytes(data), width=width, height=height, format=extension, duration_s=frames / fps, fps=fps, frames=frames
    )


def detect_language(text: str) -> str:
    """'zh' when the text has CJK characters, else 'en' (enough to choose a tokenizer or OCR model)."""
    return "zh" if _CJK.search(text) else "en"
