"""Frame sampling from real video files, and video events re-expressed on the sampled frames.

Videos are read with OpenCV (``cv2.VideoCapture``, the ``opencv-python-headless`` wheel reads
mp4 and avi). The plan (which frames) is pure arithmetic on the frame count and frame rate the
container declares (``CAP_PROP_FRAME_COUNT``, ``CAP_PROP_FPS``); decoding then verifies it: every
planned frame must decode, and the decoder's own position of each one (``CAP_PROP_POS_MSEC``)
must agree with ``index / fps`` to within half a frame, else the file is reported (variable frame
rate or a wrong header would make the timestamps lie).

Frame ``i`` is shown during ``[i / fps, (i + 1) / fps)``; its timestamp is ``i / fps`` seconds and
the video's duration is ``frame_count / fps``.

Strategies (frozen dataclasses, randomness only from the ``numpy.random.Generator`` passed in):

- ``Uniform(num_frames)``: ``num_frames`` indices spread over the whole video, first and last
  frame included: index ``k`` is ``i_k = round_half_up(k * (n - 1) / (N - 1))`` (``0`` when
  ``N == 1``), the integer form of Qwen-VL's ``linspace(0, n - 1, N).round()``. Asking for more
  frames than the video has gives every frame once.
- ``RandomOffset(num_frames, window_s)``: a window of ``w = min(n, max(1, round_half_up(window_s * fps)))``
  frames starts at ``s`` drawn uniformly from ``0 .. n - w`` (``rng.integers``), then
  ``num_frames`` uniform indices inside ``s .. s + w - 1`` as above.
- ``FixedFps(fps, max_frames=None)``: one frame every ``1 / fps`` seconds from 0: the frame on
  display at ``t_k = k / fps`` is ``floor(k * native_fps / fps)`` for every ``t_k`` before the end;
  duplicates (target rate above the native one) are removed; at most ``max_frames`` (the first ones).

Clips: ``write_clip`` encodes sampled frames as a new mp4 (``mp4v``, byte-deterministic) at
``clip_fps``, ``(N - 1) / (t_last - t_first)`` rounded to 0.01 fps, so the clip keeps the sampled
frames' spacing (the augment stage's video copies; ``vlforge.augment.pipeline.sample_video``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from vlforge.records import VideoEvent

FrameOutput = Literal["rgb", "png"]
_EPS = 1e-9


class VideoError(ValueError):
    """A video cannot be read or sampled; the message names the file and what went wrong."""


@dataclass(frozen=True)
class Uniform:
    """``num_frames`` frames spread evenly over the whole video, first and last included."""

    num_frames: int

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"Uniform.num_frames must be at least 1, got {self.num_frames}")


@dataclass(frozen=True)
class RandomOffset:
    """A window of ``window_s`` seconds at a random start, then ``num_frames`` uniform frames inside it."""

    num_frames: int
    window_s: float

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"RandomOffset.num_frames must be at least 1, got {self.num_frames}")
        if not self.window_s > 0:
            raise ValueError(f"RandomOffset.window_s must be positive, got {self.window_s}")


@dataclass(frozen=True)
class FixedFps:
    """One frame every ``1 / fps`` seconds from the start, at most ``max_frames``."""

    fps: float
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"FixedFps.fps must be positive, got {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"FixedFps.max_frames must be at least 1 or None, got {self.max_frames}")


Strategy = Uniform | RandomOffset | FixedFps


@dataclass(frozen=True)
class SampledFrames:
    """Frames taken from one video.

    Attributes:
        path: the video file.
        fps: its declared frame rate (``CAP_PROP_FPS``).
        frame_count: its declared number of frames, all verified decodable up to the last sampled one.
        width, height: frame size in pixels.
        indices: sampled frame indices, strictly increasing.
        timestamps_s: ``index / fps`` for each sampled frame.
        frames: RGB ``(height, width, 3)`` uint8 arrays when decoded with ``output="rgb"``, else empty.
        png: PNG bytes of each frame when decoded with ``output="png"``, else empty.
    """

    path: str
    fps: float
    frame_count: int
    width: int
    height: int
    indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]
    frames: tuple[np.ndarray, ...] = field(default=(), repr=False)
    png: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def duration_s(self) -> float:
        """``frame_count / fps``."""
        return self.frame_count / self.fps

    @property
    def span_s(self) -> tuple[float, float]:
        """Timestamps of the first and last sampled frame."""
        return self.timestamps_s[0], self.timestamps_s[-1]


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def uniform_indices(start: int, count: int, num_frames: int) -> list[int]:
    """``num_frames`` evenly spread indices over ``start .. start + count - 1``, both ends included.

    Args:
        start: first frame index of the range.
        count: number of frames in the range (at least 1).
        num_frames: how many to take; capped at ``count``.

    Returns:
        Strictly increasing indices.
    """
    if count < 1:
        raise ValueError(f"cannot sample from {count} frames")
    taken = min(num_frames, count)
    if taken == 1:
        return [start]
    return [start + _round_half_up(Fraction(k * (count - 1), taken - 1)) for k in range(taken)]


def plan_indices(frame_count: int, fps: float, strategy: Strategy, rng: np.random.Generator) -> list[int]:
    """Which frames a strategy takes from a video of ``frame_count`` frames at ``fps`` (pure; see the module docstring).

    Args:
        frame_count: frames in the video (at least 1).
        fps: its frame rate.
        strategy: ``Uniform``, ``RandomOffset`` or ``FixedFps``.
        rng: the only source of randomness (used by ``RandomOffset``).

    Returns:
        Strictly increasing frame indices.
    """
    if frame_count < 1 or not fps > 0:
        raise ValueError(f"cannot sample a video with {frame_count} frames at {fps} fps")
    if isinstance(strategy, Uniform):
        return uniform_indices(0, frame_count, strategy.num_frames)
    if isinstance(strategy, RandomOffset):
        window = min(frame_count, max(1, _round_half_up(Fraction(strategy.window_s) * Fraction(fps))))
        start = int(rng.integers(0, frame_count - window + 1))
        return uniform_indices(start, window, strategy.num_frames)
    if isinstance(strategy, FixedFps):
        step = fps / strategy.fps  # native frames per sampled frame
        indices: list[int] = []
        k = 0
        while (index := math.floor(k * step + _EPS)) < frame_count:
            if not indices or index > indices[-1]:
                indices.append(index)
            if strategy.max_frames is not None and len(indices) == strategy.max_frames:
                break
            k += 1
        return indices
    raise TypeError(f"unknown frame sampling strategy {strategy!r}; known: Uniform, RandomOffset, FixedFps")


def sample_frames(
    path: str | Path, strategy: Strategy, rng: np.random.Generator, output: FrameOutput = "rgb"
) -> SampledFrames:
    """Sample frames from a video file and decode them.

    Frames are read in order with ``grab`` (skipped frames are not converted) and ``retrieve``
    (sampled ones), which is exact where seeking is not.

    Args:
        path: an mp4/avi (anything OpenCV's FFmpeg build reads).
        strategy: ``Uniform``, ``RandomOffset`` or ``FixedFps``.
        rng: the only source of randomness.
        output: ``"rgb"`` for RGB numpy arrays, ``"png"`` for PNG-encoded bytes.

    Returns:
        The sampled frames with their indices and timestamps.

    Raises:
        VideoError: the file is missing or unreadable, declares no frames or frame rate, ends
            before a planned frame, or its decoder timestamps disagree with ``index / fps``.
    """
    return _read_frames(path, lambda frame_count, fps: plan_indices(frame_count, fps, strategy, rng), output)


def decode_frames(path: str | Path, indices: Sequence[int], output: FrameOutput = "rgb") -> SampledFrames:
    """Decode the frames ``indices`` of a video (a plan made before, e.g. read back from a lineage).

    The frames are read and verified exactly as ``sample_frames`` reads them.

    Args:
        path: an mp4/avi.
        indices: strictly increasing frame indices inside the video.
        output: ``"rgb"`` or ``"png"``.

    Raises:
        VideoError: as ``sample_frames``, and when an index is outside the video or the indices do not increase.
    """
    wanted = [int(index) for index in indices]

    def plan(frame_count: int, fps: float) -> list[int]:
        if not wanted or wanted[0] < 0 or wanted[-1] >= frame_count or any(b <= a for a, b in zip(wanted, wanted[1:])):
            raise VideoError(
                f"video file {path}: frame indices {wanted} are not strictly increasing within 0 .. {frame_count - 1}"
            )
        return wanted

    return _read_frames(path, plan, output)


def _read_frames(path: str | Path, plan: Callable[[int, float], list[int]], output: FrameOutput) -> SampledFrames:
    import cv2

    if output not in ("rgb", "png"):
        raise ValueError(f"output must be 'rgb' or 'png', got {output!r}")
    name = str(path)
    if not Path(name).is_file():
        raise VideoError(f"video file {name} does not exist")
    capture = cv2.VideoCapture(name)
    try:
        if not capture.isOpened():
            raise VideoError(f"video file {name} cannot be opened by OpenCV (not a video, or an unsupported codec)")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not fps > 0 or frame_count < 1:
            raise VideoError(f"video file {name} declares {frame_count} frames at {fps} fps; cannot sample it")
        indices = plan(frame_count, fps)
        wanted = set(indices)
        frames: list[np.ndarray] = []
        png: list[bytes] = []
        width = height = 0
        for index in range(indices[-1] + 1):
            if not capture.grab():
                raise VideoError(
                    f"video file {name} ended at frame {index} but declares {frame_count} frames "
                    f"(frame {indices[-1]} was to be sampled)"
                )
            if index not in wanted:
                continue
            position_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if abs(position_s - index / fps) > 0.5 / fps + _EPS:
                raise VideoError(
                    f"video file {name}: frame {index} decodes at {position_s:.6f} s, not at index/fps = "
                    f"{index / fps:.6f} s (variable frame rate?); its timestamps cannot be trusted"
                )
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                raise VideoError(f"video file {name}: frame {index} cannot be decoded")
            height, width = bgr.shape[:2]
            if output == "rgb":
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            else:
                encoded, buffer = cv2.imencode(".png", bgr)
                if not encoded:
                    raise VideoError(f"video file {name}: frame {index} cannot be encoded as PNG")
                png.append(buffer.tobytes())
    finally:
        capture.release()
    return SampledFrames(
        path=name,
        fps=fps,
        frame_count=frame_count,
        width=width,
        height=height,
        indices=tuple(indices),
        timestamps_s=tuple(index / fps for index in indices),
        frames=tuple(frames),
        png=tuple(png),
    )


class RetimedEvent(VideoEvent):
    """A ``VideoEvent`` on sampled frames, with the sampled frames that show it.

    Attributes:
        frames: positions in ``SampledFrames.indices`` (0-based) of the frames inside the event.
        source_frames: those frames' indices in the video.
    """

    frames: tuple[int, ...]
    source_frames: tuple[int, ...]


def retime_events(
    events: Sequence[VideoEvent], sampled: SampledFrames, rebase: bool = False
) -> list[RetimedEvent]:
    """Events re-expressed on the sampled frames.

    The rule:

    - a sampled frame belongs to an event when its timestamp ``t`` has ``start_s <= t <= end_s``;
    - an event to which no sampled frame belongs is dropped: it lies outside the sampled span,
      or between two sampled frames, and the sampled clip does not show it;
    - a kept event is clipped to the sampled span ``[first timestamp, last timestamp]``, so an
      event running past either end of the span ends at the span; an event inside it keeps its times;
    - with ``rebase=True`` times are then measured from the first sampled frame (for a clip
      cut out of the video, as ``RandomOffset`` gives); otherwise they stay on the video's clock.

    Events keep their order. Inputs are not changed.

    Args:
        events: the annotated events of the video.
        sampled: the frames taken from it.
        rebase: measure times from the first sampled frame.

    Returns:
        The kept events with their frames listed.

    Raises:
        ValueError: an event ends before it starts (the message gives its position and times).
    """
    first, last = sampled.span_s
    origin = first if rebase else 0.0
    retimed: list[RetimedEvent] = []
    for number, event in enumerate(events):
        if event.end_s < event.start_s:
            raise ValueError(
                f"video event {number} ({event.description!r}) in {sampled.path} ends at {event.end_s} s "
                f"before it starts at {event.start_s} s"
            )
        positions = tuple(
            position
            for position, timestamp in enumerate(sampled.timestamps_s)
            if event.start_s - _EPS <= timestamp <= event.end_s + _EPS
        )
        if not positions:
            continue
        start = max(event.start_s, first) - origin
        end = min(event.end_s, last) - origin
        retimed.append(
            RetimedEvent(
                start_s=max(start, 0.0),
                end_s=max(end, 0.0),
                description=event.description,
                frames=positions,
                source_frames=tuple(sampled.indices[position] for position in positions),
            )
        )
    return retimed


# --- clips made of sampled frames ------------------------------------------------------------

STRATEGY_NAMES: tuple[str, ...] = ("uniform", "random_offset", "fps")
# The clip codec: MPEG-4 Part 2 ('mp4v') in an mp4 container. OpenCV's FFmpeg writer gives the same
# bytes for the same frames and rate (no creation time or file name is written into the container;
# checked in tests), so a replayed clip can be compared byte for byte.
CLIP_FOURCC = "mp4v"
CLIP_FORMAT = "mp4"
# The mp4 container keeps a frame rate to 0.01 fps (1.409 is read back as 1.41), so the clip rate
# is rounded to that before it is written: the rate read back then equals the rule's value.
CLIP_FPS_DECIMALS = 2
MIN_CLIP_FPS = 0.01


def strategy_from_params(params: dict[str, object]) -> Strategy:
    """A strategy from its recipe / lineage form ``{"strategy": name, "n_frames", "fps", "window_s"}``.

    ``uniform``: ``Uniform(n_frames)``; ``random_offset``: ``RandomOffset(n_frames, window_s)``;
    ``fps``: ``FixedFps(fps, max_frames=n_frames)``. Keys a strategy does not use are ignored.

    Raises:
        ValueError: an unknown strategy name (the known ones are listed) or a bad value.
    """
    name = params.get("strategy")
    if name == "uniform":
        return Uniform(int(params["n_frames"]))  # type: ignore[arg-type]
    if name == "random_offset":
        return RandomOffset(int(params["n_frames"]), float(params["window_s"]))  # type: ignore[arg-type]
    if name == "fps":
        return FixedFps(float(params["fps"]), max_frames=int(params["n_frames"]))  # type: ignore[arg-type]
    raise ValueError(f"unknown frame sampling strategy {name!r}; known: {', '.join(STRATEGY_NAMES)}")


def clip_fps(sampled: SampledFrames) -> float:
    """The frame rate of a clip made of the sampled frames, so that its frames keep their spacing.

    The rule: ``fps_clip = round((N - 1) / (t_last - t_first), 2)`` for ``N >= 2`` sampled frames,
    i.e. the clip shows one frame per mean spacing of the sampled frames, and its frame ``k`` at
    ``k / fps_clip`` is the sampled frame of source time ``t_first + k * spacing``. Where the
    spacing is even (``FixedFps`` at a divisor of the native rate, ``Uniform`` when ``N - 1``
    divides the frame span) the clip's timestamps equal the source timestamps minus ``t_first``;
    uniform indices are rounded to whole frames, so elsewhere they differ by at most half a source
    frame, plus the 0.01 fps rounding. First and last frame keep their distance ``t_last - t_first``
    (up to that rounding). One sampled frame keeps the native rate (rounded alike). The clip lasts
    ``N / fps_clip`` seconds (``VideoRef.duration_s``): the sampled span plus one spacing.

    Example: 4.mp4 (150 frames at 30 fps), ``Uniform(8)``: indices 0 .. 149, span 149 / 30 s,
    ``fps_clip = round(7 * 30 / 149, 2) = 1.41``, duration ``8 / 1.41 = 5.674`` s.
    """
    first, last = sampled.indices[0], sampled.indices[-1]
    if len(sampled.indices) < 2 or last == first:
        rate = sampled.fps
    else:
        rate = (len(sampled.indices) - 1) * sampled.fps / (last - first)
    return max(MIN_CLIP_FPS, round(rate, CLIP_FPS_DECIMALS))


def write_clip(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """Encode RGB frames as an mp4 clip (``CLIP_FOURCC``) at ``fps`` and return its bytes.

    The clip is written with ``cv2.VideoWriter`` to a private temporary folder, read back and
    removed; the same frames and rate give the same bytes.

    Args:
        frames: RGB ``(height, width, 3)`` uint8 arrays, all of one size (at least one).
        fps: the clip's frame rate (see ``clip_fps``).

    Raises:
        VideoError: no frames, frames of different sizes, or the writer fails.
    """
    import tempfile

    import cv2

    if not frames:
        raise VideoError("cannot write a clip of no frames")
    height, width = frames[0].shape[:2]
    sizes = {frame.shape for frame in frames}
    if len(sizes) != 1 or frames[0].ndim != 3 or frames[0].shape[2] != 3:
        raise VideoError(f"clip frames must all be (height, width, 3) RGB of one size, got shapes {sorted(sizes)}")
    with tempfile.TemporaryDirectory(prefix="vlforge-clip-") as folder:
        target = str(Path(folder) / f"clip.{CLIP_FORMAT}")
        writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*CLIP_FOURCC), float(fps), (width, height))
        try:
            if not writer.isOpened():
                raise VideoError(f"OpenCV cannot write a {CLIP_FOURCC} {CLIP_FORMAT} clip of {width}x{height} at {fps} fps")
            for frame in frames:
                writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        data = Path(target).read_bytes() if Path(target).is_file() else b""
    if not data:
        raise VideoError(f"OpenCV wrote an empty {CLIP_FORMAT} clip of {len(frames)} frames at {fps} fps")
    return data
