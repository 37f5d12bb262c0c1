"""Augment one sample into a new one with a replayable lineage, and replay that lineage.

``augment_sample`` draws, from an RNG seeded by ``SeedSequence([seed, sample_id, copy_index])``,
whether each op applies (its probability) and, if so, its concrete params; it moves every box,
OCR line, GUI action and box written in the conversation with the pixels, swaps left/right words
after a mirror and drops what a crop or an erasure lost (``on_lost_object``). The new sample's
lineage is the parent's, then ``LineageOp("parent", {"sample_id", "image_sha256", "seed",
"copy_index"})``, then one ``LineageOp(op, params_json, seed)`` per applied op, then a
``LineageOp("dropped", ...)`` after an op that lost targets and a ``LineageOp("dropped_turns", ...)``
when turns were dropped; those two are reports and ``replay`` skips them, as it skips the text-only
``LineageOp("paraphrase", ...)`` that the augment stage (``stage.py``) appends.

Images are decoded with OpenCV (EXIF orientation applied, as the records' boxes assume), worked on
in RGB, and encoded as the given ``ImageEncoding`` says (by default the task type's,
``encoding.DEFAULT_ENCODINGS``), so the same params give the same bytes; the ``parent`` entry records
the encoding and replay reads it back (PNG at compression 6 for lineage that records none).
Only single-image samples get image ops.

A video sample (one video, no image) gets its copies from ``sample_video`` instead: frames drawn
by a ``vlforge.augment.video`` strategy with a seed from the same per-copy RNG, written as a new mp4
clip at ``video.clip_fps`` (``video.write_clip``), its ``video_events`` retimed onto the clip
(``retime_events`` with ``rebase=True``: times from the clip's first frame, clipped to the sampled
span) and event times quoted in the text rewritten with them (``text.retime_text``). A copy is
dropped when a parent event lies between or outside the sampled frames (``video_event_not_sampled``:
its answers may describe what the clip does not show) or a quoted time is ambiguous
(``event_time_ambiguous``). Its lineage: the parent's, ``LineageOp("parent", {"sample_id",
"video_sha256", "seed", "copy_index"})``, then ``LineageOp("video_sampling", {strategy params,
"indices", "timestamps_s", "source_fps", "source_frames", "clip_fps", "codec", "text_times"},
seed=frame_seed)``; ``replay_video`` plans the indices again from the strategy and seed, checks them
against the recorded ones, decodes them and writes the same clip bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from vlforge.augment.encoding import DEFAULT_ENCODINGS, ImageEncoding, recorded_encoding
from vlforge.augment.ops import Op, build_op
from vlforge.augment.targets import Targets
from vlforge.augment.text import Bbox2dUnits, drop_turns_about, find_text_boxes, swap_left_right, write_text_boxes
from vlforge.augment.video import (
    CLIP_FOURCC,
    SampledFrames,
    VideoError,
    clip_fps,
    decode_frames,
    plan_indices,
    retime_events,
    sample_frames,
    strategy_from_params,
    write_clip,
)
from vlforge.records import ImageRef, LineageOp, Sample, VideoEvent
from vlforge.store import sha256_bytes

OnLostObject = Literal["drop_turns", "drop_sample"]
REPORT_OPS = frozenset({"parent", "dropped", "dropped_turns", "paraphrase"})
VIDEO_SAMPLING = "video_sampling"


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode image bytes to an RGB uint8 array; ``where`` names the sample in errors."""
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise ValueError(f"{where}: image bytes ({len(data)} bytes) cannot be decoded")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def sample_rng(seed: int, sample_id: str, copy_index: int) -> np.random.Generator:
    """The per-sample generator: ``SeedSequence([seed, int(sha256(sample_id)[:16], 16), copy_index])``."""
    id_key = int(hashlib.sha256(sample_id.encode()).hexdigest()[:16], 16)
    return np.random.default_rng(np.random.SeedSequence([int(seed), id_key, int(copy_index)]))


def ops_from_recipe(entries: Sequence[dict[str, dict[str, Any]]]) -> list[tuple[Op, float]]:
    """A recipe list ``[{op_name: {"probability": p, **params}}, ...]`` -> ops with their probabilities."""
    ops: list[tuple[Op, float]] = []
    for position, entry in enumerate(entries):
        if len(entry) != 1:
            raise ValueError(f"augment recipe entry {position}: expected one op name, got {sorted(entry)}")
        ((name, kwargs),) = entry.items()
        kwargs = dict(kwargs or {})
        probability = float(kwargs.pop("probability", 1.0))
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"augment recipe entry {position} ({name}): probability {probability} not in [0, 1]")
        ops.append((build_op(name, kwargs), probability))
    return ops


def augment_sample(
    sample: Sample,
    image: bytes | np.ndarray,
    ops_with_probabilities: Sequence[tuple[Op, float]],
    rng_seed: int,
    copy_index: int,
    *,
    on_lost_object: OnLostObject = "drop_turns",
    bbox_2d_units: Bbox2dUnits = "pixels",
    encoding: ImageEncoding | None = None,
) -> tuple[Sample, bytes] | None:
    """One augmented copy of ``sample``.

    Args:
        sample: the parent (one image).
        image: the parent's image file, or the array ``parent_image`` decoded from it (the augment stage
            decodes a parent once for all its copies).
        ops_with_probabilities: ops in order, each applied with its probability.
        rng_seed: the recipe's seed.
        copy_index: which copy of this sample (0, 1, ...): different copies draw differently.
        on_lost_object: ``drop_turns`` drops the question/answer pairs about an object the ops
            lost; ``drop_sample`` returns ``None`` instead.
        bbox_2d_units: whether ``"bbox_2d"`` lists in the text are pixels or 0-1000.
        encoding: how the new image is written; by default the sample's task type's (``DEFAULT_ENCODINGS``).

    Returns:
        The new sample and its image bytes, or ``None`` when the sample is dropped (a lost object
        under ``drop_sample``, or no assistant answer left).
    """
    decoded = parent_image(sample, image) if isinstance(image, bytes) else image
    rng = sample_rng(rng_seed, sample.sample_id, copy_index)
    drawn: list[tuple[Op, dict[str, Any], int]] = []
    for op, probability in ops_with_probabilities:
        op_seed = int(rng.integers(0, 2**31 - 1))
        applies = bool(rng.random() < probability)
        if applies:
            drawn.append((op, op.sample(np.random.default_rng(op_seed)), op_seed))
    parent = LineageOp(
        op="parent",
        params_json=json.dumps(
            {
                "sample_id": sample.sample_id,
                "image_sha256": sample.images[0].sha256 if sample.images else "",
                "seed": int(rng_seed),
                "copy_index": int(copy_index),
            },
            sort_keys=True,
        ),
        seed=int(rng_seed),
    )
    chosen = DEFAULT_ENCODINGS[sample.task_type] if encoding is None else encoding
    return _run(sample, decoded, drawn, parent, on_lost_object, bbox_2d_units, chosen)


def replay(parent_sample: Sample, parent_image_bytes: bytes, lineage: Sequence[LineageOp]) -> bytes:
    """The augmented image again, byte for byte, from the parent and the augmented sample's lineage."""
    result = replay_sample(parent_sample, parent_image_bytes, lineage)
    if result is None:
        raise ValueError(f"sample {parent_sample.sample_id}: replaying its lineage drops the sample")
    return result[1]


def replay_sample(
    parent_sample: Sample, parent_image_bytes: bytes, lineage: Sequence[LineageOp]
) -> tuple[Sample, bytes] | None:
    """The augmented sample and image again from the lineage after its last ``parent`` entry.

    The ``parent`` entry's settings (``on_lost_object``, ``bbox_2d_units``, ``encoding``) are read back from it.
    """
    starts = [i for i, entry in enumerate(lineage) if entry.op == "parent"]
    if not starts:
        raise ValueError(f"sample {parent_sample.sample_id}: lineage has no 'parent' entry to replay from")
    parent = lineage[starts[-1]]
    parent_info = json.loads(parent.params_json)
    if parent_info.get("sample_id") != parent_sample.sample_id:
        raise ValueError(
            f"lineage parent sample_id {parent_info.get('sample_id')!r} is not the given parent "
            f"{parent_sample.sample_id!r}"
        )
    if any(entry.op == VIDEO_SAMPLING for entry in lineage[starts[-1] + 1 :]):
        raise ValueError(f"sample {parent_sample.sample_id}: the lineage is a video copy's; replay it with replay_video")
    drawn = [
        (build_op(entry.op, json.loads(entry.params_json).get("recipe", {})), _params_of(entry), entry.seed or 0)
        for entry in lineage[starts[-1] + 1 :]
        if entry.op not in REPORT_OPS
    ]
    return _run(
        parent_sample,
        parent_image(parent_sample, parent_image_bytes),
        drawn,
        parent,
        parent_info.get("on_lost_object", "drop_turns"),
        parent_info.get("bbox_2d_units", "pixels"),
        recorded_encoding(parent_info),
    )


def sample_video(
    sample: Sample, video_path: str | Path, strategy_params: dict[str, Any], rng_seed: int, copy_index: int
) -> tuple[Sample, bytes] | str:
    """One frame-sampled copy of a video sample (the rules are in the module docstring).

    Args:
        sample: the parent (one video, no image).
        video_path: the parent's video file.
        strategy_params: ``VideoSamplingConfig.strategy_params()``: ``{"strategy", "n_frames", ...}``.
        rng_seed: the recipe's seed.
        copy_index: which copy of this sample: different copies draw differently (``random_offset``).

    Returns:
        The new sample and its clip's bytes, or the reason the copy is dropped
        (``video_event_not_sampled``, ``event_time_ambiguous``).

    Raises:
        VideoError: the video cannot be read or sampled.
    """
    _check_video_sample(sample)
    rng = sample_rng(rng_seed, sample.sample_id, copy_index)
    frame_seed = int(rng.integers(0, 2**31 - 1))
    sampled = sample_frames(video_path, strategy_from_params(strategy_params), np.random.default_rng(frame_seed))
    parent = LineageOp(
        op="parent",
        params_json=json.dumps(
            {
                "sample_id": sample.sample_id,
                "video_sha256": sample.videos[0].sha256,
                "seed": int(rng_seed),
                "copy_index": int(copy_index),
            },
            sort_keys=True,
        ),
        seed=int(rng_seed),
    )
    return _video_copy(sample, sampled, parent, dict(strategy_params), frame_seed)


def replay_video(parent_sample: Sample, parent_video_path: str | Path, lineage: Sequence[LineageOp]) -> bytes:
    """The copy's clip again, byte for byte, from the parent video and the copy's lineage."""
    result = replay_video_sample(parent_sample, parent_video_path, lineage)
    if isinstance(result, str):
        raise ValueError(f"sample {parent_sample.sample_id}: replaying its video lineage drops the copy ({result})")
    return result[1]


def replay_video_sample(
    parent_sample: Sample, parent_video_path: str | Path, lineage: Sequence[LineageOp]
) -> tuple[Sample, bytes] | str:
    """The video copy and its clip again from the lineage after its last ``parent`` entry.

    The frame indices are planned again from the recorded strategy and seed on the recorded frame
    count and rate; they must equal the recorded ``indices`` (else ``ValueError``), and are then decoded.
    """
    _check_video_sample(parent_sample)
    starts = [i for i, entry in enumerate(lineage) if entry.op == "parent"]
    if not starts:
        raise ValueError(f"sample {parent_sample.sample_id}: lineage has no 'parent' entry to replay from")
    parent = lineage[starts[-1]]
    if json.loads(parent.params_json).get("sample_id") != parent_sample.sample_id:
        raise ValueError(f"lineage parent {parent.params_json} is not the given parent {parent_sample.sample_id!r}")
    entries = [entry for entry in lineage[starts[-1] + 1 :] if entry.op == VIDEO_SAMPLING]
    if len(entries) != 1:
        raise ValueError(
            f"sample {parent_sample.sample_id}: expected one {VIDEO_SAMPLING!r} entry after the parent, found {len(entries)}"
        )
    (entry,) = entries
    params = json.loads(entry.params_json)
    seed = entry.seed or 0
    planned = plan_indices(
        int(params["source_frames"]), float(params["source_fps"]), strategy_from_params(params), np.random.default_rng(seed)
    )
    if planned != list(params["indices"]):
        raise ValueError(
            f"sample {parent_sample.sample_id}: {params['strategy']} with seed {seed} plans frames {planned}, "
            f"the lineage recorded {params['indices']}"
        )
    sampled = decode_frames(parent_video_path, planned)
    if sampled.frame_count != params["source_frames"] or sampled.fps != params["source_fps"]:
        raise VideoError(
            f"video {parent_video_path}: {sampled.frame_count} frames at {sampled.fps} fps, the lineage recorded "
            f"{params['source_frames']} at {params['source_fps']}"
        )
    strategy_params = {key: params[key] for key in ("strategy", "n_frames", "fps", "window_s") if key in params}
    return _video_copy(parent_sample, sampled, parent, strategy_params, seed)


def _check_video_sample(sample: Sample) -> None:
    if len(sample.videos) != 1 or sample.images:
        raise ValueError(
            f"sample {sample.sample_id}: frame sampling needs exactly one video and no image, the sample has "
            f"{len(sample.videos)} video(s) and {len(sample.images)} image(s)"
        )


def _video_copy(
    sample: Sample, sampled: SampledFrames, parent: LineageOp, strategy_params: dict[str, Any], frame_seed: int
) -> tuple[Sample, bytes] | str:
    from vlforge.augment.text import retime_text
    from vlforge.media import probe_video

    retimed = retime_events(sample.video_events, sampled, rebase=True)
    if len(retimed) < len(sample.video_events):
        return "video_event_not_sampled"
    times = [(old.start_s, new.start_s) for old, new in zip(sample.video_events, retimed, strict=True)]
    times += [(old.end_s, new.end_s) for old, new in zip(sample.video_events, retimed, strict=True)]
    text = retime_text(sample.conversations, times)
    if text.ambiguous:
        return "event_time_ambiguous"
    fps = clip_fps(sampled)
    data = write_clip(sampled.frames, fps)
    ref = probe_video(data, f"{sample.sample_id} (sampled clip)")
    recorded = {
        **strategy_params,
        "indices": list(sampled.indices),
        "timestamps_s": list(sampled.timestamps_s),
        "source_fps": sampled.fps,
        "source_frames": sampled.frame_count,
        "clip_fps": fps,
        "codec": CLIP_FOURCC,
        "text_times": [list(change) for change in text.changes],
    }
    lineage = (
        *sample.lineage,
        parent,
        LineageOp(op=VIDEO_SAMPLING, params_json=json.dumps(recorded, sort_keys=True), seed=int(frame_seed)),
    )
    lineage_key = json.dumps([sample.sample_id, [(e.op, e.params_json, e.seed) for e in lineage]])
    new_sample = sample.model_copy(
        update={
            "sample_id": hashlib.sha256(lineage_key.encode()).hexdigest()[:16],
            "videos": (ref,),
            "video_events": tuple(
                VideoEvent(start_s=event.start_s, end_s=event.end_s, description=event.description) for event in retimed
            ),
            "conversations": text.turns,
            "lineage": lineage,
        }
    )
    return new_sample, data


def _params_of(entry: LineageOp) -> dict[str, Any]:
    params = json.loads(entry.params_json)
    params.pop("recipe", None)
    return params


def _where(sample: Sample) -> str:
    return f"sample {sample.sample_id} ({sample.source.file}, record {sample.source.record_id})"


def parent_image(sample: Sample, image_bytes: bytes) -> np.ndarray:
    """The parent's one image decoded (RGB), checked against the size its ``ImageRef`` records.

    The array is read-only: the augment stage makes every copy of a parent from one decode, and an op
    that wrote into its input would raise here instead of changing the next copy.
    """
    where = _where(sample)
    if len(sample.images) != 1:
        raise ValueError(f"{where}: augmentation needs exactly one image, the sample has {len(sample.images)}")
    image = decode_image(image_bytes, where)
    ref = sample.images[0]
    if (image.shape[1], image.shape[0]) != (ref.width, ref.height):
        raise ValueError(
            f"{where}: image decodes to {image.shape[1]}x{image.shape[0]} but images[0] says {ref.width}x{ref.height}"
        )
    image.setflags(write=False)
    return image


def _run(
    sample: Sample,
    image: np.ndarray,
    drawn: list[tuple[Op, dict[str, Any], int]],
    parent: LineageOp,
    on_lost_object: OnLostObject,
    bbox_2d_units: Bbox2dUnits,
    encoding: ImageEncoding,
) -> tuple[Sample, bytes] | None:
    where = _where(sample)
    if on_lost_object not in ("drop_turns", "drop_sample"):
        raise ValueError(f"{where}: on_lost_object {on_lost_object!r}; allowed: drop_turns, drop_sample")
    ref = sample.images[0]
    text_boxes = find_text_boxes(sample.conversations, ref.width, ref.height, bbox_2d_units)
    targets = Targets(
        width=ref.width,
        height=ref.height,
        boxes=sample.boxes,
        ocr_lines=sample.ocr_lines,
        actions=sample.actions,
        text_boxes=tuple(t.box for t in text_boxes),
    )
    turns = sample.conversations
    parent_info = json.loads(parent.params_json)
    parent_info.update({"on_lost_object": on_lost_object, "bbox_2d_units": bbox_2d_units, "encoding": encoding.recorded()})
    lineage = list(sample.lineage) + [parent.model_copy(update={"params_json": json.dumps(parent_info, sort_keys=True)})]
    for op, params, op_seed in drawn:
        before = len(targets.lost)
        image, targets = op.apply(image, targets, params)
        if op.mirrors(params):
            turns = tuple(
                t if t.role == "system" else t.model_copy(update={"content": swap_left_right(t.content)}) for t in turns
            )
        recorded = dict(params)
        recorded["recipe"] = op.params.model_dump(mode="json")
        lineage.append(LineageOp(op=op.name, params_json=json.dumps(recorded, sort_keys=True), seed=op_seed))
        if len(targets.lost) > before:
            lineage.append(
                LineageOp(op="dropped", params_json=json.dumps({"op": op.name, "targets": list(targets.lost[before:])}))
            )
    if targets.lost and on_lost_object == "drop_sample":
        return None
    turns = write_text_boxes(turns, list(targets.text_boxes), targets.width, targets.height, bbox_2d_units)
    lost_turns = {t.turn for t, new in zip(text_boxes, targets.text_boxes) if new is None}
    lost_labels = {b.label for b, new in zip(sample.boxes, targets.boxes) if new is None and b.label}
    lost_labels |= {o.text for o, new in zip(sample.ocr_lines, targets.ocr_lines) if new is None and o.text}
    kept_labels = {b.label for b in targets.boxes if b is not None and b.label}
    turns, dropped_turns = drop_turns_about(turns, lost_turns, lost_labels, kept_labels)
    if dropped_turns:
        lineage.append(LineageOp(op="dropped_turns", params_json=json.dumps({"turns": dropped_turns})))
    if sample.conversations and not any(t.role == "assistant" for t in turns):
        return None
    data = encoding.encode(image)
    height, width = image.shape[:2]
    new_ref = ImageRef(sha256=sha256_bytes(data), width=width, height=height, format=encoding.extension)
    lineage_key = json.dumps([sample.sample_id, [(e.op, e.params_json, e.seed) for e in lineage]])
    new_sample = sample.model_copy(
        update={
            "sample_id": hashlib.sha256(lineage_key.encode()).hexdigest()[:16],
            "images": (new_ref,),
            "conversations": turns,
            "boxes": tuple(b for b in targets.boxes if b is not None),
            "ocr_lines": tuple(o for o in targets.ocr_lines if o is not None),
            "actions": tuple(a for a in targets.actions if a is not None),
            "lineage": tuple(lineage),
        }
    )
    return new_sample, data
