"""Videos: LLaMA-Factory's mllm_video_demo.json read with each video probed, stored once, and bad videos quarantined."""

from __future__ import annotations

import shutil

import pytest

from vlforge.media import RecordError, store_video, video_format
from vlforge.store import ImageStore

VIDEO_DEMO = "llamafactory/data/mllm_video_demo.json"
DEMO_DATA = "llamafactory/data/mllm_demo_data"


def _video_record(content: str, *videos: str) -> dict:
    return {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "Cooking."}], "videos": list(videos)}


def test_llamafactory_video_demo(fixtures_dir, ingest, sha256):
    run = ingest(fixtures_dir / VIDEO_DEMO, "llamafactory")

    assert run.quarantine == []
    # A sharegpt record is a question and its answer whatever its media: vqa, as for mllm_demo.json.
    assert [(s.source.file, s.source.record_id, s.task_type, s.images) for s in run.samples] == [
        ("mllm_video_demo.json", str(index), "vqa", ()) for index in range(3)
    ]
    assert [[(turn.role, turn.content) for turn in s.conversations] for s in run.samples] == [
        [("user", "<video>Why is this video funny?"), ("assistant", "Because a baby is reading, and he is so cute!")],
        [("user", "<video>What is she doing?"), ("assistant", "She is cooking.")],
        [("user", "<video>What's in the video?"), ("assistant", "A baby is playing in the living room.")],
    ]
    videos = [sample.videos[0] for sample in run.samples]
    assert all(len(sample.videos) == 1 for sample in run.samples)
    names = ["1.mp4", "2.avi", "3.mp4"]
    assert [video.sha256 for video in videos] == [sha256((fixtures_dir / DEMO_DATA / name).read_bytes()) for name in names]
    assert [(video.format, video.width, video.height, video.frames) for video in videos] == [
        ("mp4", 640, 360, 243),
        ("avi", 320, 240, 270),
        ("mp4", 640, 360, 146),
    ]
    # 1.mp4 9.7 s at 25 fps, 2.avi 9.0 s at 29.92 fps, 3.mp4 6.1 s at 23.976 (24000/1001) fps
    assert [video.fps for video in videos] == pytest.approx([25.0, 29.9167, 24000 / 1001], abs=1e-4)
    assert [video.duration_s for video in videos] == pytest.approx([9.7, 9.0, 6.1], abs=0.05)
    assert [video.duration_s for video in videos] == pytest.approx([243 / 25, 270 / videos[1].fps, 146 * 1001 / 24000])
    stored = run.stored_files()
    assert sorted(path.name for path in stored) == sorted(video.file_name for video in videos)
    assert all(path.name == f"{sha256(path.read_bytes())}.{path.suffix[1:]}" for path in stored)


def test_store_video_probes_the_224px_30fps_clip(fixtures_dir, tmp_path, sha256):
    data = (fixtures_dir / DEMO_DATA / "4.mp4").read_bytes()
    video = store_video(data, ImageStore(tmp_path), "4.mp4")
    assert (video.width, video.height, video.fps, video.frames, video.format) == (224, 224, 30.0, 150, "mp4")
    assert video.duration_s == pytest.approx(5.0)
    assert video.sha256 == sha256(data)
    assert (tmp_path / video.sha256[:2] / video.file_name).read_bytes() == data


def test_video_format_is_read_from_the_bytes(fixtures_dir):
    assert video_format((fixtures_dir / DEMO_DATA / "1.mp4").read_bytes()) == "mp4"
    assert video_format((fixtures_dir / DEMO_DATA / "2.avi").read_bytes()) == "avi"
    assert video_format((fixtures_dir / DEMO_DATA / "1.jpg").read_bytes()) is None
    assert video_format(b"") is None


def test_a_video_named_avi_that_is_an_mp4_is_stored_as_mp4(fixtures_dir, tmp_path):
    video = store_video((fixtures_dir / DEMO_DATA / "4.mp4").read_bytes(), ImageStore(tmp_path), "clip.avi")
    assert video.format == "mp4"


def test_a_mixed_record_keeps_images_and_videos(fixtures_dir, tmp_path, ingest, write_json):
    for name in ("1.jpg", "4.mp4"):
        shutil.copyfile(fixtures_dir / DEMO_DATA / name, tmp_path / name)
    record = _video_record("<image>Who is it?<video>What happens?", "4.mp4") | {"images": ["1.jpg"]}
    run = ingest(write_json(tmp_path / "mixed.json", [record]), "llamafactory")
    assert run.quarantine == []
    (sample,) = run.samples
    assert [(image.width, image.height) for image in sample.images] == [(300, 168)]
    assert [(video.width, video.height, video.frames) for video in sample.videos] == [(224, 224, 150)]


def test_bad_videos_are_quarantined_naming_file_record_field_and_value(fixtures_dir, tmp_path, ingest, write_json):
    shutil.copyfile(fixtures_dir / DEMO_DATA / "4.mp4", tmp_path / "good.mp4")
    whole = (fixtures_dir / DEMO_DATA / "1.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])  # the index (moov) is at the end
    (tmp_path / "notes.mp4").write_bytes(b"not a video at all" * 20)
    records = [
        _video_record("<video>What is she doing?", "good.mp4"),
        _video_record("<video><video>Compare them.", "good.mp4"),
        _video_record("What is she doing?", "good.mp4"),
        _video_record("<video>What is she doing?", "cut.mp4"),
        _video_record("<video>What is she doing?", "notes.mp4"),
        _video_record("<video>What is she doing?", "gone.mp4"),
        _video_record("<video>What is she doing?", "../outside.mp4"),
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "videos": []},
    ]
    run = ingest(write_json(tmp_path / "videos.json", records), "llamafactory")

    assert [sample.source.record_id for sample in run.samples] == ["0"]
    assert run.quarantine == [
        {"source_file": "videos.json", "record_id": "1", "reason": "conversation has 2 <video> tags for 1 videos", "field": "conversations", "value": "2"},
        {"source_file": "videos.json", "record_id": "2", "reason": "conversation has 0 <video> tags for 1 videos", "field": "conversations", "value": "0"},
        {
            "source_file": "videos.json",
            "record_id": "3",
            "reason": "video cannot be decoded (OpenCV cannot open this mp4 file: truncated, or a codec it lacks)",
            "field": "videos[0]",
            "value": "cut.mp4",
        },
        {
            "source_file": "videos.json",
            "record_id": "4",
            "reason": "video cannot be read (not an mp4, mov, avi, mkv or webm container)",
            "field": "videos[0]",
            "value": "notes.mp4",
        },
        {"source_file": "videos.json", "record_id": "5", "reason": "video file not found (looked at: gone.mp4)", "field": "videos[0]", "value": "gone.mp4"},
        {
            "source_file": "videos.json",
            "record_id": "6",
            "reason": "video path leads outside the export's folder and images_root",
            "field": "videos[0]",
            "value": "../outside.mp4",
        },
        {"source_file": "videos.json", "record_id": "7", "reason": "record has no image or video", "field": "images", "value": ""},
    ]


def test_store_video_error_never_names_the_temporary_file(tmp_path):
    with pytest.raises(RecordError) as caught:
        store_video(b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, ImageStore(tmp_path), "broken.avi", "videos[3]")
    assert (caught.value.reason, caught.value.field, caught.value.value) == (
        "video cannot be decoded (OpenCV cannot open this avi file: truncated, or a codec it lacks)",
        "videos[3]",
        "broken.avi",
    )
    assert not list(tmp_path.rglob("*"))  # nothing stored
