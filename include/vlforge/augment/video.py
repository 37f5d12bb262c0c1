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

No Airflow wiring lives here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
        indices = plan_indices(frame_count, fps, strategy, rng)
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
