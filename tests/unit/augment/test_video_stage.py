"""The augment stage on video samples: frame-sampled clips, retimed events and text, byte-identical replay, the gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from augment_stage_data import FakeScorer, augment_all, augment_run, make_sample, write_curated

from vlforge.augment import stage
from vlforge.augment.config import AugmentConfig, VideoSamplingConfig
from vlforge.augment.gate import run_augment_gate
from vlforge.augment.lineage import applied_ops, parent_id
from vlforge.augment.pipeline import VIDEO_SAMPLING, replay, replay_video, sample_video
from vlforge.augment.replay import check_replay
from vlforge.augment.stage import augment_shard, plan_shards
from vlforge.augment.text import retime_text
from vlforge.augment.video import RandomOffset, Uniform, clip_fps, plan_indices, sample_frames, write_clip
from vlforge.config import Recipe, load_recipe
from vlforge.manifest import read_augmented
from vlforge.media import store_video
from vlforge.records import Sample, Source, Turn, VideoEvent
from vlforge.run import RunDescription
from vlforge.store import ImageStore

VIDEO = "llamafactory/data/mllm_demo_data/4.mp4"  # 224x224, 30 fps, 150 frames, 5.0 s
EVENTS = (VideoEvent(start_s=1.0, end_s=3.0, description="waves"), VideoEvent(start_s=4.5, end_s=5.0, description="leaves"))
QUESTION = "<video>\nWhat happens between 1.0s and 3.0s, and from 4.5s?"
ANSWER = "Someone waves from 1.0s to 3.0s and leaves from 4.5s to 5.0s."


def video_sample(store: ImageStore, fixtures_dir: Path, events: tuple[VideoEvent, ...] = EVENTS) -> Sample:
    ref = store_video((fixtures_dir / VIDEO).read_bytes(), store, VIDEO)
    return Sample(
        sample_id="v000000000000000",
        task_type="video_event",
        videos=(ref,),
        conversations=(Turn(role="user", content=QUESTION), Turn(role="assistant", content=ANSWER)),
        video_events=events,
        source=Source(file="videos.json", record_id="0"),
    )


def with_video(recipe: Recipe, paraphrase: bool = True, **video: object) -> Recipe:
    augment = recipe.augment
    update = {"video": augment.video.model_copy(update=video)}
    if not paraphrase:
        update["paraphrase"] = augment.paraphrase.model_copy(update={"enabled": False})
    return recipe.model_copy(update={"augment": augment.model_copy(update=update)})


def video_run(home: Path, recipe: Recipe | None = None, phase: str = "main", seed: int = 5) -> RunDescription:
    return augment_run(home, recipe, seed=seed, phase=phase, shard_size=8)


def video_copies(run: RunDescription) -> list[Sample]:
    return [copy for copy in read_augmented(run.run_dir.augmented) if copy.videos]


def sampling(copy: Sample) -> tuple[dict, int]:
    (entry,) = [entry for entry in copy.lineage if entry.op == VIDEO_SAMPLING]
    return json.loads(entry.params_json), entry.seed


@pytest.fixture
def mixed_run(tmp_path: Path, fixtures_dir: Path) -> RunDescription:
    """A video sample, two single-image samples and one two-image sample, all in train."""
    run = video_run(tmp_path)
    images = [make_sample(index, run.store) for index in range(2)]
    two_images = images[0].model_copy(update={"sample_id": "m000000000000000", "images": images[0].images * 2})
    write_curated(run, [video_sample(run.store, fixtures_dir), *images, two_images])
    return run


def test_uniform_copy_is_an_8_frame_clip_with_events_on_its_clock(mixed_run: RunDescription, fixtures_dir: Path) -> None:
    stats = augment_all(mixed_run)
    assert stats["video"] == {"parents": 1, "clips": 1} and stats["skipped_by_reason"] == {"multi_image": 1}
    assert (stats["parents"], stats["augmented"], stats["dropped"]) == (4, 3, 0)  # the two-image sample is skipped
    (copy,) = video_copies(mixed_run)
    assert parent_id(copy) == "v000000000000000" and copy.images == () and applied_ops(copy) == []

    params, seed = sampling(copy)
    indices = [0, 21, 43, 64, 85, 106, 128, 149]  # round(k * 149 / 7)
    assert params["strategy"] == "uniform" and params["n_frames"] == 8 and params["indices"] == indices
    assert params["timestamps_s"] == pytest.approx([index / 30 for index in indices])
    assert (params["source_fps"], params["source_frames"], params["codec"]) == (30.0, 150, "mp4v")
    # clip rate: round((8 - 1) / (149 / 30), 2) = round(1.4094, 2) = 1.41; duration 8 / 1.41
    (ref,) = copy.videos
    assert params["clip_fps"] == 1.41 and ref.fps == pytest.approx(1.41)
    assert (ref.frames, ref.width, ref.height, ref.format) == (8, 224, 224, "mp4")
    assert ref.duration_s == pytest.approx(8 / 1.41)

    # events: rebased on the first sampled frame (index 0, so no shift); "leaves" is clipped to the last frame
    assert copy.video_events == (
        VideoEvent(start_s=1.0, end_s=3.0, description="waves"),
        VideoEvent(start_s=4.5, end_s=149 / 30, description="leaves"),
    )
    assert copy.conversations[0].content == QUESTION  # 4.9667 s is still "5.0s" at one decimal
    assert params["text_times"] == []

    clip = mixed_run.store.path_for(ref.sha256, "mp4")
    decoded = sample_frames(clip, Uniform(8), np.random.default_rng(0))
    assert decoded.indices == tuple(range(8)) and decoded.fps == pytest.approx(1.41)
    source = sample_frames(fixtures_dir / VIDEO, Uniform(8), np.random.default_rng(0))
    for frame, original in zip(decoded.frames, source.frames, strict=True):
        assert np.abs(frame.astype(int) - original.astype(int)).mean() < 8  # the same frames, lossy mp4v

    check = check_replay(mixed_run.run_dir.path, copy.sample_id, mixed_run.store_dir)
    assert check.ok and check.ops == (VIDEO_SAMPLING,) and "bytes equal the stored clip" in check.detail
    result = run_augment_gate(mixed_run)
    assert result["passed"] and result["failed"] == []
    # the two image copies alone are eligible for image ops
    assert all(entry["eligible"] == 2 for name, entry in stats["ops"].items() if name != "ocr_degradation")


def test_rerun_writes_the_same_clip_and_shard(tmp_path: Path, fixtures_dir: Path) -> None:
    # a 4 s window always holds a frame 1.33 .. 2.33 s in: inside the 1.0 .. 3.0 s event
    run = video_run(tmp_path, with_video(load_recipe("default"), strategy="random_offset", n_frames=4, window_s=4.0), seed=3)
    write_curated(run, [video_sample(run.store, fixtures_dir, events=(EVENTS[0],)), make_sample(0, run.store)])
    (shard,) = plan_shards(run)
    shard_files = [run.run_dir.augment_shard(shard["name"]), run.run_dir.augment_shard_counts(shard["name"])]
    first = augment_shard(run, shard, scorer=FakeScorer())
    files = {path.name: path.read_bytes() for path in shard_files}
    clips = {path: path.read_bytes() for path in run.store.root.rglob("*.mp4")}
    assert first["video"] == {"parents": 1, "clips": 1}
    second = augment_shard(run, shard, scorer=FakeScorer())
    assert second == first
    assert {path.name: path.read_bytes() for path in shard_files} == files
    assert {path: path.read_bytes() for path in run.store.root.rglob("*.mp4")} == clips


def test_write_clip_is_byte_deterministic(fixtures_dir: Path) -> None:
    sampled = sample_frames(fixtures_dir / VIDEO, Uniform(5), np.random.default_rng(0))
    first = write_clip(sampled.frames, clip_fps(sampled))
    assert first[4:8] == b"ftyp" and write_clip(sampled.frames, clip_fps(sampled)) == first
    assert write_clip(sampled.frames, 2.0) != first
    assert write_clip(sampled.frames[::-1], clip_fps(sampled)) != first


def test_random_offset_copies_retime_events_and_text(tmp_path: Path, fixtures_dir: Path) -> None:
    recipe = with_video(load_recipe("default"), paraphrase=False, strategy="random_offset", n_frames=4, window_s=2.0, copies_per_sample=8)
    run = video_run(tmp_path, recipe, seed=21)
    write_curated(run, [video_sample(run.store, fixtures_dir, events=(EVENTS[0],))])
    stats = augment_all(run)
    copies = video_copies(run)
    # with seed 21 every copy samples a frame inside the event (1-3 s), so none is dropped
    assert (len(copies), stats["dropped"], stats["dropped_by_reason"]) == (8, 0, {})
    shifted = 0
    for copy in copies:
        params, seed = sampling(copy)
        indices = params["indices"]
        # a 2 s window is 60 frames; 4 uniform frames in it are start + (0, 20, 39, 59)
        assert plan_indices(150, 30.0, RandomOffset(4, 2.0), np.random.default_rng(seed)) == indices
        assert [index - indices[0] for index in indices] == [0, 20, 39, 59]
        assert params["clip_fps"] == 1.53 and copy.videos[0].frames == 4  # round(3 * 30 / 59, 2)
        first, last = indices[0] / 30, indices[-1] / 30
        start, end = max(1.0, first) - first, min(3.0, last) - first
        (event,) = copy.video_events
        assert (event.start_s, event.end_s) == pytest.approx((start, end), abs=1e-9)
        question, answer = (turn.content for turn in copy.conversations)
        assert question == QUESTION.replace("1.0s", f"{start:.1f}s").replace("3.0s", f"{end:.1f}s")
        assert answer.startswith(f"Someone waves from {start:.1f}s to {end:.1f}s")
        shifted += first > 0
        assert check_replay(run.run_dir.path, copy.sample_id, run.store_dir).ok
    assert shifted == 8


def test_fixed_fps_clip_keeps_the_source_spacing(tmp_path: Path, fixtures_dir: Path) -> None:
    run = video_run(tmp_path, with_video(load_recipe("default"), paraphrase=False, strategy="fps", fps=2.0, n_frames=6))
    write_curated(run, [video_sample(run.store, fixtures_dir, events=(EVENTS[0],))])
    augment_all(run)
    (copy,) = video_copies(run)
    params, _ = sampling(copy)
    assert params["indices"] == [0, 15, 30, 45, 60, 75] and params["clip_fps"] == 2.0
    assert (copy.videos[0].frames, copy.videos[0].duration_s) == (6, pytest.approx(3.0))
    assert copy.video_events == (VideoEvent(start_s=1.0, end_s=2.5, description="waves"),)  # clipped at frame 75
    assert copy.conversations[0].content == QUESTION.replace("3.0s", "2.5s")


def test_an_event_between_sampled_frames_drops_the_copy(tmp_path: Path, fixtures_dir: Path) -> None:
    # uniform 8 frames sit at 0.7 s and 1.433 s: nothing of 0.75 .. 1.0 s is in the clip
    run = video_run(tmp_path)
    write_curated(run, [video_sample(run.store, fixtures_dir, events=(VideoEvent(start_s=0.75, end_s=1.0, description="blink"),))])
    stats = augment_all(run)
    assert stats["augmented"] == 0 and stats["dropped_by_reason"] == {"video_event_not_sampled": 1}
    assert stats["video"] == {"parents": 1, "clips": 0}


def test_a_phase_with_video_copies_only_decodes_no_image_parent(
    tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = with_video(load_recipe("default"), paraphrase=False, copies_per_sample=1)
    run = video_run(tmp_path, recipe.model_copy(update={"augment": recipe.augment.model_copy(update={"copies_per_sample": 0})}))
    write_curated(run, [video_sample(run.store, fixtures_dir), *(make_sample(index, run.store) for index in range(2))])
    decoded = []
    monkeypatch.setattr(stage, "parent_image", lambda *args: decoded.append(args))
    stats = augment_all(run)
    assert stats["video"] == {"parents": 1, "clips": 1} and stats["augmented"] == 1 and decoded == []


def test_finetune_makes_no_video_copies(mixed_run: RunDescription) -> None:
    run = video_run(mixed_run.home, phase="finetune")  # the same run folder, prepared again for the finetune phase
    before = sorted(run.store.root.rglob("*.mp4"))
    stats = augment_all(run)
    assert stats["augmented"] == 0 and stats["video"] == {"parents": 0, "clips": 0}
    assert sorted(run.store.root.rglob("*.mp4")) == before
    augment = load_recipe("default").augment
    assert (augment.video_copies("warmup"), augment.video_copies("main"), augment.video_copies("finetune")) == (1, 1, 0)
    assert AugmentConfig(video=VideoSamplingConfig(copies_per_sample=3)).video_copies("main") == 3
    assert AugmentConfig(phases={"main": {"video": False}}).video_copies("main") == 0


def test_replay_rejects_a_tampered_lineage_and_the_wrong_kind(tmp_path: Path, store: ImageStore, fixtures_dir: Path) -> None:
    parent = video_sample(store, fixtures_dir)
    path = store.path_for(parent.videos[0].sha256, "mp4")
    copy, clip = sample_video(parent, path, {"strategy": "random_offset", "n_frames": 4, "window_s": 4.5}, 7, 0)
    assert replay_video(parent, path, copy.lineage) == clip
    tampered = [
        entry.model_copy(update={"params_json": entry.params_json.replace('"indices": [', '"indices": [1, ')})
        if entry.op == VIDEO_SAMPLING
        else entry
        for entry in copy.lineage
    ]
    with pytest.raises(ValueError, match="plans frames"):
        replay_video(parent, path, tampered)
    with pytest.raises(ValueError, match="replay it with replay_video"):
        replay(parent.model_copy(update={"images": (make_sample(0, store).images[0],)}), b"", copy.lineage)


def test_retime_text_rules() -> None:
    turns = (
        Turn(role="system", content="Times are in seconds, e.g. 1.0s."),
        Turn(role="user", content="<video>What happens at 1.0s, 3 sec and 10 seconds?"),
    )
    result = retime_text(turns, [(1.0, 0.25), (3.0, 2.25)])
    assert result.turns[0] == turns[0]
    assert result.turns[1].content == "<video>What happens at 0.2s, 2.2 sec and 10 seconds?"
    assert result.changes == ((1, "1.0", "0.2"), (1, "3", "2.2")) and result.ambiguous == ()
    unchanged = retime_text(turns, [(3.0, 3.04)])
    assert unchanged.turns == turns and unchanged.changes == ()
    assert retime_text(turns, [(1.0, 0.0), (1.0, 0.5)]).ambiguous == ((1, "1.0s"),)
    assert retime_text((), [(1.0, 0.0)]).turns == ()
