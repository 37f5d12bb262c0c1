"""What every ingest adapter shares: rejections, image and video resolution and loading, record checks.

An adapter turns one source file into ``Sample`` or ``Rejection`` objects; it
never drops a record silently. Images and videos are resolved (Label Studio upload and
local-files URLs, paths relative to the export, the ``images_root`` folders, http(s) URLs; a ``data:`` URL is rejected)
and put into the content-addressed store once per distinct reference (``vlforge.media`` decodes,
orients and probes them).
"""

from __future__ import annotations

import math
import posixpath
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import fsspec

from vlforge.config import IngestConfig
from vlforge.media import RecordError, store_image, store_video
from vlforge.recent import Recent
from vlforge.records import Box, ImageRef, Sample, Source, Turn, VideoRef
from vlforge.store import ImageStore

MediaKind = Literal["image", "video"]  # as quarantine reasons name it
_DEFAULTS = IngestConfig()
DOWNLOAD_BLOCK_BYTES = 1 << 16
# Media references remembered with what they resolved to (stored ref or error): one used again soon after is
# not read and stored again, and a source whose every record has its own picture does not grow the cache.
RECENT_MEDIA = 4096


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


ImagesRoot = str | Sequence[str] | None  # the DAG Param: one folder, several, or none


def image_roots(images_root: ImagesRoot) -> tuple[str, ...]:
    """The extra image folders, in lookup order, from one folder, a list of them, or none.

    Raises:
        ValueError: when an entry is not a non-empty string.
    """
    roots = [] if images_root is None else [images_root] if isinstance(images_root, str) else list(images_root)
    bad = [root for root in roots if not isinstance(root, str) or not root.strip()]
    if bad:
        raise ValueError(f"images_root entries must be non-empty folder paths or URIs; got {bad!r}")
    return tuple(roots)


@dataclass
class IngestContext:
    """Where a source lives and where its images go.

    Attributes:
        source_file: the export file (or folder, for YOLO) being read.
        source_root: the folder that relative image paths start from and that local paths must stay inside.
        images_root: extra folders (or fsspec URIs) to look for images in, in order.
        store: the content-addressed image store.
        box_tolerance_px: how far outside the image a box may reach and still be clipped rather than rejected.
        download_timeout_s: how long an http(s) image URL may take to download (each wait, and the whole).
        max_record_bytes: a JSON Lines line longer than this is quarantined unread.
        max_document_bytes: a JSON file larger than this is rejected unread.
    """

    source_file: str
    source_root: str
    images_root: tuple[str, ...]
    store: ImageStore
    box_tolerance_px: float = _DEFAULTS.box_tolerance_px
    download_timeout_s: float = _DEFAULTS.download_timeout_s
    max_record_bytes: int = _DEFAULTS.max_record_bytes
    max_document_bytes: int = _DEFAULTS.max_document_bytes
    _loaded: Recent[tuple[MediaKind, str], ImageRef | VideoRef | RecordError] = field(
        default_factory=lambda: Recent(RECENT_MEDIA)
    )

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
        """The bytes at ``url``; a URL costs at most twice ``download_timeout_s``.

        The socket timeout bounds each wait (connecting, or one read), not the download: a server that
        sends a byte now and then would hold the ingest for ever. So the download is also abandoned at
        the first read that ends past ``download_timeout_s``; ``read1`` returns what one read brings.
        """
        deadline = time.monotonic() + self.download_timeout_s
        try:
            with urllib.request.urlopen(url, timeout=self.download_timeout_s) as response:  # noqa: S310
                blocks = []
                while block := response.read1(DOWNLOAD_BLOCK_BYTES):
                    blocks.append(block)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not downloaded within ingest.download_timeout_s = {self.download_timeout_s:g} s")
                return b"".join(blocks)
        except (OSError, ValueError) as error:
            looked = f" and not found at: {', '.join(tried)}" if tried else ""
            raise RecordError(f"{kind} URL could not be downloaded ({error}){looked}", field_name, url) from None

    def _candidates(self, reference: str, field_name: str, kind: MediaKind = "image") -> Iterator[str]:
        roots = [self.source_root, *self.images_root]
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
        for index, root in enumerate(self.images_root):
            if not _is_remote(root) and path.is_relative_to(root):
                name = "<images_root>" if index == 0 else f"<images_root[{index}]>"
                return f"{name}/{path.relative_to(root).as_posix()}"
        return location

    def _allowed(self, candidate: str, relative: str) -> bool:
        """A local candidate must resolve inside a root; a remote one cannot be resolved, so it must not climb out with ``..``."""
        return not _climbs_out(relative) if _is_remote(candidate) else self._inside_roots(candidate)

    def _inside_roots(self, path: str) -> bool:
        resolved = Path(path).resolve()
        for root in [self.source_root, *self.images_root]:
            if not _is_remote(root) and resolved.is_relative_to(Path(root).resolve()):
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


def checked_box(box: Box, image: ImageRef, tolerance_px: float, field_name: str) -> Box:
    """Clip float rounding at the image edge; reject non-finite coordinates, inverted boxes and boxes outside the image.

    Raises:
        RecordError: naming the box and the bad value.
    """
    coordinates = [box.x1, box.y1, box.x2, box.y2]
    described = f"[{box.x1:.2f}, {box.y1:.2f}, {box.x2:.2f}, {box.y2:.2f}]"
    if not all(math.isfinite(value) for value in coordinates):
        # NaN fails every comparison below, and the clipping would then turn it into an image edge.
        names = [name for name, value in zip(("x1", "y1", "x2", "y2"), coordinates, strict=True) if not math.isfinite(value)]
        reason = f"box {described} ({box.label!r}) has a coordinate that is not a finite number ({', '.join(names)})"
        raise RecordError(reason, field_name, coordinates)
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
