"""Frame sampling on the real video fixtures, and video events re-timed onto the sampled frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vlforge.augment.video import (
    FixedFps,
    RandomOffset,
    SampledFrames,
    Uniform,
    VideoError,
    plan_indices,
    retime_events,
    sample_frames,
    uniform_indices,
)
from vlforge.records import VideoEvent

# (file under fixtures, declared fps, frame count)
VIDEOS = {
    "1.mp4": ("llamafactory/data/mllm_demo_data/1.mp4", 25.0, 243),
    "2.avi": ("llamafactory/data/mllm_demo_data/2.avi", 29.916666666666668, 270),
    "3.mp4": ("llamafactory/data/mllm_demo_data/3.mp4", 24000 / 1001, 146),
    "4.mp4": ("llamafactory/data/mllm_demo_data/4.mp4", 30.0, 150),
    "datumaro.avi": ("datumaro/tests/assets/video_dataset_video.avi", 1.0, 8),
}
UNIFORM_8 = {
    "1.mp4": (0, 35, 69, 104, 138, 173, 207, 242),
    "2.avi": (0, 38, 77, 115, 154, 192, 231, 269),
    "3.mp4": (0, 21, 41, 62, 83, 104, 124, 145),
    "4.mp4": (0, 21, 43, 64, 85, 106, 128, 149),
    "datumaro.avi": (0, 1, 2, 3, 4, 5, 6, 7),
}
FIXED_2FPS = {
    "1.mp4": (0, 12, 25, 37, 50, 62, 75, 87, 100, 112, 125, 137, 150, 162, 175, 187, 200, 212, 225, 237),
    "2.avi": (0, 14, 29, 44, 59, 74, 89, 104, 119, 134, 149, 164, 179, 194, 209, 224, 239, 254, 269),
    "3.mp4": (0, 11, 23, 35, 47, 59, 71, 83, 95, 107, 119, 131, 143),
    "4.mp4": (0, 15, 30, 45, 60, 75, 90, 105, 120, 135),
    "datumaro.avi": (0, 1, 2, 3, 4, 5, 6, 7),
}
RANDOM_OFFSET_SEED_7 = {  # RandomOffset(4, window_s=2.0), rng seed 7
    "1.mp4": (183, 199, 216, 232),
    "2.avi": (199, 219, 238, 258),
    "3.mp4": (93, 109, 124, 140),
    "4.mp4": (85, 105, 124, 144),
    "datumaro.avi": (6, 7),
}


def video(fixtures_dir: Path, name: str) -> str:
    return str(fixtures_dir / VIDEOS[name][0])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_consistent(sampled: SampledFrames, fps: float, frame_count: int) -> None:
    assert sampled.fps == pytest.approx(fps, rel=1e-12)
    assert sampled.frame_count == frame_count
    assert sampled.duration_s == pytest.approx(frame_count / fps)
    assert all(b > a for a, b in zip(sampled.indices, sampled.indices[1:]))
    assert all(b > a for a, b in zip(sampled.timestamps_s, sampled.timestamps_s[1:]))
    assert all(0 <= t < sampled.duration_s for t in sampled.timestamps_s)
    assert sampled.timestamps_s == tuple(i / sampled.fps for i in sampled.indices)


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_uniform_takes_exact_frames_and_decodes_them(fixtures_dir: Path, name: str) -> None:
    _, fps, frame_count = VIDEOS[name]
    sampled = sample_frames(video(fixtures_dir, name), Uniform(8), rng())
    assert sampled.indices == UNIFORM_8[name]
    assert_consistent(sampled, fps, frame_count)
    assert len(sampled.frames) == 8 and sampled.png == ()
    assert all(frame.shape == (sampled.height, sampled.width, 3) and frame.dtype == np.uint8 for frame in sampled.frames)


def test_uniform_timestamps_on_known_rates(fixtures_dir: Path) -> None:
    assert sample_frames(video(fixtures_dir, "1.mp4"), Uniform(8), rng()).timestamps_s == pytest.approx(
        (0.0, 1.4, 2.76, 4.16, 5.52, 6.92, 8.28, 9.68)
    )
    four = sample_frames(video(fixtures_dir, "4.mp4"), Uniform(3), rng())
    assert (four.width, four.height, four.indices) == (224, 224, (0, 75, 149))  # 74.5 rounds half up
    assert four.timestamps_s == pytest.approx((0.0, 2.5, 149 / 30))
    assert sample_frames(video(fixtures_dir, "datumaro.avi"), Uniform(4), rng()).timestamps_s == (0.0, 2.0, 5.0, 7.0)


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_fixed_fps_takes_exact_frames(fixtures_dir: Path, name: str) -> None:
    _, fps, frame_count = VIDEOS[name]
    sampled = sample_frames(video(fixtures_dir, name), FixedFps(2.0), rng(), output="png")
    assert sampled.indices == FIXED_2FPS[name]
    assert_consistent(sampled, fps, frame_count)
    assert len(sampled.png) == len(sampled.indices) and sampled.frames == ()
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in sampled.png)


def test_fixed_fps_below_native_rate_and_capped(fixtures_dir: Path) -> None:
    datumaro = sample_frames(video(fixtures_dir, "datumaro.avi"), FixedFps(0.5), rng())
    assert (datumaro.indices, datumaro.timestamps_s) == ((0, 2, 4, 6), (0.0, 2.0, 4.0, 6.0))
    capped = sample_frames(video(fixtures_dir, "4.mp4"), FixedFps(1.0, max_frames=3), rng())
    assert (capped.indices, capped.timestamps_s) == ((0, 30, 60), (0.0, 1.0, 2.0))


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_random_offset_is_seeded_and_inside_its_window(fixtures_dir: Path, name: str) -> None:
    _, fps, frame_count = VIDEOS[name]
    strategy = RandomOffset(4, window_s=2.0)
    first = sample_frames(video(fixtures_dir, name), strategy, rng(7))
    again = sample_frames(video(fixtures_dir, name), strategy, rng(7))
    assert first.indices == again.indices == RANDOM_OFFSET_SEED_7[name]
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, again.frames, strict=True))
    assert_consistent(first, fps, frame_count)
    assert first.indices[-1] - first.indices[0] <= round(2.0 * fps) - 1


def test_random_offset_draws_differ_across_seeds() -> None:
    starts = {plan_indices(243, 25.0, RandomOffset(4, 2.0), rng(seed))[0] for seed in range(20)}
    assert len(starts) == 19 and all(0 <= start <= 243 - 50 for start in starts)


def test_png_frames_decode_to_the_rgb_frames(fixtures_dir: Path) -> None:
    path = video(fixtures_dir, "4.mp4")
    rgb = sample_frames(path, Uniform(3), rng())
    png = sample_frames(path, Uniform(3), rng(), output="png")
    for array, data in zip(rgb.frames, png.png, strict=True):
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decoded, array)


def test_sampled_frames_are_the_frames_at_those_indices(fixtures_dir: Path) -> None:
    path = video(fixtures_dir, "2.avi")
    capture = cv2.VideoCapture(path)
    every = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        every.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    sampled = sample_frames(path, Uniform(5), rng())
    assert len(every) == 270
    for index, frame in zip(sampled.indices, sampled.frames, strict=True):
        assert np.array_equal(frame, every[index])
    assert not np.array_equal(sampled.frames[0], sampled.frames[-1])


@pytest.mark.parametrize(
    ("start", "count", "num_frames", "expected"),
    [
        (0, 10, 1, [0]),
        (0, 10, 2, [0, 9]),
        (0, 10, 4, [0, 3, 6, 9]),
        (5, 3, 10, [5, 6, 7]),
        (0, 1, 3, [0]),
    ],
)
def test_uniform_indices_table(start: int, count: int, num_frames: int, expected: list[int]) -> None:
    assert uniform_indices(start, count, num_frames) == expected


def test_strategies_reject_bad_parameters() -> None:
    with pytest.raises(ValueError, match="num_frames must be at least 1, got 0"):
        Uniform(0)
    with pytest.raises(ValueError, match="window_s must be positive, got -1"):
        RandomOffset(2, -1.0)
    with pytest.raises(ValueError, match="fps must be positive, got 0"):
        FixedFps(0.0)
    with pytest.raises(TypeError, match="unknown frame sampling strategy"):
        plan_indices(10, 1.0, "uniform", rng())  # type: ignore[arg-type]


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoError, match=f"video file {missing} does not exist"):
        sample_frames(missing, Uniform(2), rng())
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match=f"video file {garbage}"):
        sample_frames(garbage, Uniform(2), rng())


def events() -> list[VideoEvent]:
    return [
        VideoEvent(start_s=0.5, end_s=1.5, description="between two samples"),
        VideoEvent(start_s=1.0, end_s=3.0, description="inside"),
        VideoEvent(start_s=5.0, end_s=9.0, description="runs past the end"),
        VideoEvent(start_s=6.5, end_s=8.0, description="after the last sample"),
    ]


def test_retime_events_drops_clips_and_lists_frames(fixtures_dir: Path) -> None:
    sampled = sample_frames(video(fixtures_dir, "datumaro.avi"), FixedFps(0.5), rng())  # frames 0 2 4 6
    given = events()
    retimed = retime_events(given, sampled)
    assert [(e.description, e.start_s, e.end_s, e.frames, e.source_frames) for e in retimed] == [
        ("inside", 1.0, 3.0, (1,), (2,)),
        ("runs past the end", 5.0, 6.0, (3,), (6,)),
    ]
    assert all(isinstance(event, VideoEvent) for event in retimed)
    assert given == events()


def test_retime_events_rebases_on_a_random_window(fixtures_dir: Path) -> None:
    sampled = sample_frames(video(fixtures_dir, "datumaro.avi"), RandomOffset(3, window_s=4.0), rng(1))
    assert sampled.indices == (2, 4, 5)  # a 4-frame window drawn at frame 2, 3 frames inside it
    timeline = [
        VideoEvent(start_s=0.0, end_s=1.5, description="before the window"),
        VideoEvent(start_s=1.5, end_s=2.5, description="start"),
        VideoEvent(start_s=3.5, end_s=7.0, description="end"),
    ]
    kept = retime_events(timeline, sampled, rebase=True)
    assert [(e.description, e.start_s, e.end_s, e.frames, e.source_frames) for e in kept] == [
        ("start", 0.0, 0.5, (0,), (2,)),
        ("end", 1.5, 3.0, (1, 2), (4, 5)),
    ]
    for event in kept:
        assert all(event.start_s <= sampled.timestamps_s[p] - sampled.timestamps_s[0] <= event.end_s for p in event.frames)


def test_retime_events_rejects_an_event_ending_before_it_starts(fixtures_dir: Path) -> None:
    sampled = sample_frames(video(fixtures_dir, "datumaro.avi"), Uniform(2), rng())
    bad = [VideoEvent(start_s=3.0, end_s=2.0, description="backwards")]
    with pytest.raises(ValueError, match=r"video event 0 \('backwards'\) in .*video_dataset_video.avi ends at 2.0 s"):
        retime_events(bad, sampled)
    assert retime_events([], sampled) == []
