"""What every ingest adapter shares: rejections, image and video resolution and loading, record checks.

An adapter turns one source file into ``Sample`` or ``Rejection`` objects; it
never drops a record silently. Images and videos are resolved (Label Studio upload and
local-files URLs, paths relative to the export, ``images_root``, http(s) URLs; a ``data:`` URL is rejected)
and put into the content-addressed store here, once per distinct reference:
images decoded and EXIF-oriented, videos probed with OpenCV for size, frame rate and frame count.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import fsspec
from PIL import Image, ImageOps, UnidentifiedImageError

from vlforge.records import Box, ImageRef, Sample, Source, Turn, VideoRef
from vlforge.store import ImageStore, sha256_bytes

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff", "MPO": "jpg"}
_EXIF_ORIENTATION = 0x0112
MediaKind = Literal["image", "video"]  # as quarantine reasons name it


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be used, with a reason a person understands."""

    source: Source
    reason: str
    field: str = ""
    value: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "source_file": self.source.file,
            "record_id": self.source.record_id,
            "reason": self.reason,
            "field": self.field,
            "value": self.value,
        }


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


@dataclass
class IngestContext:
    """Where a source lives and where its images go.

    Attributes:
        source_file: the export file (or folder, for YOLO) being read.
        source_root: the folder that relative image paths start from and that local paths must stay inside.
        images_root: an extra folder (or fsspec URI) to look for images in.
        store: the content-addressed image store.
        box_tolerance_px: how far outside the image a box may reach and still be clipped rather than rejected.
        download_timeout_s: timeout for http(s) image URLs.
    """

    source_file: str
    source_root: str
    images_root: str | None
    store: ImageStore
    box_tolerance_px: float = 0.5
    download_timeout_s: float = 10.0
    _loaded: dict[tuple[MediaKind, str], ImageRef | VideoRef | RecordError] = field(default_factory=dict)

    def source(self, record_id: object) -> Source:
        return Source(file=self.source_file, record_id=str(record_id))

    def load_image(self, reference: str, field_name: str = "image") -> ImageRef:
        """Resolve, decode, orient and store the image that ``reference`` names.

        Raises:
            RecordError: when the image cannot be found, escapes the source root, or does not decode.
        """
        outcome = self._cached("image", reference, field_name)
        assert isinstance(outcome, ImageRef)
        return outcome

    def load_video(self, reference: str, field_name: str = "videos") -> VideoRef:
        """Resolve, probe and store the video that ``reference`` names (found the same way as images).

        Raises:
            RecordError: when the video cannot be found, escapes the source root, or OpenCV cannot read it.
        """
        outcome = self._cached("video", reference, field_name)
        assert isinstance(outcome, VideoRef)
        return outcome

    def _cached(self, kind: MediaKind, reference: str, field_name: str) -> ImageRef | VideoRef:
        if not isinstance(reference, str) or not reference.strip():
            raise RecordError(f"{kind} reference is missing or empty", field_name, reference)
        if reference.startswith("data:"):
            # Not a path: looked up as one, its length can exceed the file-name limit and fail the whole run.
            raise RecordError(f"{kind} reference is a data: URL; only paths and http(s) URLs are resolved", field_name, reference)
        key = (kind, reference)
        if key not in self._loaded:
            try:
                data = self._read(reference, field_name, kind)
                store = store_image if kind == "image" else store_video
                self._loaded[key] = store(data, self.store, reference, field_name)
            except RecordError as error:
                self._loaded[key] = error
        outcome = self._loaded[key]
        if isinstance(outcome, RecordError):
            raise outcome
        return outcome

    def _read(self, reference: str, field_name: str, kind: MediaKind = "image") -> bytes:
        tried: list[str] = []
        for candidate in self._candidates(reference, field_name, kind):
            tried.append(self._shown(candidate))
            data = _read_if_exists(candidate)
            if data is not None:
                return data
        if reference.startswith(("http://", "https://")):
            return self._download(reference, field_name, tried, kind)
        raise RecordError(f"{kind} file not found (looked at: {', '.join(tried)})", field_name, reference)

    def _download(self, url: str, field_name: str, tried: list[str], kind: MediaKind) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=self.download_timeout_s) as response:  # noqa: S310
                return response.read()
        except (OSError, ValueError) as error:
            looked = f" and not found at: {', '.join(tried)}" if tried else ""
            raise RecordError(f"{kind} URL could not be downloaded ({error}){looked}", field_name, url) from None

    def _candidates(self, reference: str, field_name: str, kind: MediaKind = "image") -> Iterator[str]:
        roots = [self.source_root] + ([self.images_root] if self.images_root else [])
        relative = _relative_part(reference)
        if relative is None:
            return
        if _is_local_absolute(relative) and not self._inside_roots(relative):
            relative = relative.lstrip("/")
        if _is_local_absolute(relative):
            yield relative
            return
        inside = [_join(root, relative) for root in roots]
        inside = [candidate for candidate in inside if self._allowed(candidate, relative)]
        if not inside:
            raise RecordError(f"{kind} path leads outside the export's folder and images_root", field_name, reference)
        yield from inside
        if reference.startswith("/data/upload/"):
            # Label Studio prefixes uploaded file names with a hash: "<8 hex>-<name>".
            name = relative.rsplit("/", 1)[-1]
            original = name.split("-", 1)[1] if re.match(r"^[0-9a-f]{8}-", name) else name
            for root in roots:
                yield _join(root, original)

    def _shown(self, location: str) -> str:
        """A location as a quarantine reason shows it: relative to the source root when inside it.

        Reasons are part of the release's content hash, which must not depend on where the data lies.
        """
        if _is_remote(location) or _is_remote(self.source_root):
            return location
        path = Path(location)
        root = Path(self.source_root)
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
        if self.images_root and not _is_remote(self.images_root) and path.is_relative_to(self.images_root):
            return f"<images_root>/{path.relative_to(self.images_root).as_posix()}"
        return location

    def _allowed(self, candidate: str, relative: str) -> bool:
        """A local candidate must resolve inside a root; a remote one cannot be resolved, so it must not climb out with ``..``."""
        return not _climbs_out(relative) if _is_remote(candidate) else self._inside_roots(candidate)

    def _inside_roots(self, path: str) -> bool:
        resolved = Path(path).resolve()
        for root in [self.source_root, self.images_root]:
            if root and not _is_remote(root) and resolved.is_relative_to(Path(root).resolve()):
                return True
        return False


def _relative_part(reference: str) -> str | None:
    """The part of a reference to look for under the roots, or None when only a download can find it."""
    if reference.startswith("/data/local-files/"):
        query = urllib.parse.urlparse(reference).query
        values = urllib.parse.parse_qs(query).get("d")
        return values[0] if values else None
    if reference.startswith("/data/upload/"):
        return reference[len("/data/upload/") :]
    if reference.startswith(("http://", "https://")):
        path = urllib.parse.unquote(urllib.parse.urlparse(reference).path).lstrip("/")
        return path or None
    if reference.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlparse(reference).path)
    return reference


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _climbs_out(relative: str) -> bool:
    """Whether a relative path climbs above its root with ``..`` (checked for remote roots, which cannot be resolved)."""
    normal = posixpath.normpath(relative)
    return normal == ".." or normal.startswith("../")


def _is_local_absolute(path: str) -> bool:
    return not _is_remote(path) and Path(path).is_absolute()


def _join(root: str, relative: str) -> str:
    if _is_remote(root):
        return root.rstrip("/") + "/" + relative.lstrip("/")
    return str(Path(root) / relative)


def _read_if_exists(location: str) -> bytes | None:
    if not _is_remote(location):
        path = Path(location)
        return path.read_bytes() if path.is_file() else None
    filesystem, path = fsspec.core.url_to_fs(location)
    return filesystem.cat_file(path) if filesystem.isfile(path) else None


def store_image(data: bytes, store: ImageStore, reference: str, field_name: str = "image") -> ImageRef:
    """Decode ``data``, apply its EXIF orientation and put it in the store.

    An image whose EXIF says it is rotated is stored rotated upright, so that
    trainers that ignore EXIF see the pixels the boxes were drawn on.

    Raises:
        RecordError: when the bytes are not a complete, decodable image.
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


def checked_box(box: Box, image: ImageRef, tolerance_px: float, field_name: str) -> Box:
    """Clip float rounding at the image edge; reject inverted boxes and boxes outside the image.

    Raises:
        RecordError: naming the box and the bad value.
    """
    coordinates = [box.x1, box.y1, box.x2, box.y2]
    described = f"[{box.x1:.2f}, {box.y1:.2f}, {box.x2:.2f}, {box.y2:.2f}]"
    if box.x1 >= box.x2 or box.y1 >= box.y2:
        raise RecordError(f"box {described} ({box.label!r}) has x1>=x2 or y1>=y2", field_name, coordinates)
    limit = tolerance_px
    if box.x1 < -limit or box.y1 < -limit or box.x2 > image.width + limit or box.y2 > image.height + limit:
        raise RecordError(
            f"box {described} ({box.label!r}) lies outside the {image.width}x{image.height} image",
            field_name,
            coordinates,
        )
    return box.model_copy(
        update={
            "x1": max(0.0, box.x1),
            "y1": max(0.0, box.y1),
            "x2": min(float(image.width), box.x2),
            "y2": min(float(image.height), box.y2),
        }
    )


def checked_sample(sample: Sample, tolerance_px: float) -> Sample:
    """Apply the record rules that hold for every format to an adapter's sample.

    Raises:
        RecordError: for the first rule the sample breaks.
    """
    if not sample.images and not sample.videos:
        raise RecordError("record has no image or video", "images")

    def check(box: Box, field_name: str) -> Box:
        if not 0 <= box.image_index < len(sample.images):
            raise RecordError(f"box refers to image {box.image_index} of {len(sample.images)}", field_name)
        return checked_box(box, sample.images[box.image_index], tolerance_px, field_name)

    boxes = tuple(check(box, f"boxes[{index}]") for index, box in enumerate(sample.boxes))
    lines = []
    for index, line in enumerate(sample.ocr_lines):
        if not line.text.strip():
            raise RecordError("OCR line has an empty transcription", f"ocr_lines[{index}].text", line.text)
        lines.append(line if line.box is None else line.model_copy(update={"box": check(line.box, f"ocr_lines[{index}].box")}))
    image_tags = sum(turn.content.count("<image>") for turn in sample.conversations)
    if sample.conversations and image_tags != len(sample.images):
        raise RecordError(
            f"conversation has {image_tags} <image> tags for {len(sample.images)} images", "conversations", image_tags
        )
    video_tags = sum(turn.content.count("<video>") for turn in sample.conversations)
    if sample.conversations and video_tags != len(sample.videos):
        raise RecordError(
            f"conversation has {video_tags} <video> tags for {len(sample.videos)} videos", "conversations", video_tags
        )
    return sample.model_copy(update={"boxes": boxes, "ocr_lines": tuple(lines)})


def caption_turns(captions: list[str], prompt: str) -> tuple[Turn, ...]:
    """One user/assistant pair per caption; the image tag goes in the first user turn only."""
    turns: list[Turn] = []
    for index, caption in enumerate(captions):
        question = f"<image>\n{prompt}" if index == 0 else prompt
        turns += [Turn(role="user", content=question), Turn(role="assistant", content=caption)]
    return tuple(turns)
