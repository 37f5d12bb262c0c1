"""The augment stage of a run: shard the train split, augment each shard, merge the shards, count.

Only the ``train`` split of the curated manifest is augmented: ``val`` and ``test`` measure the
model on data as it comes, and an augmented copy of a train image in them would leak the image
across splits. In the run folder (``layout.RunDir``):

- the augment plan: the shards (``plan_shards``);
- per shard, its augmented copies (an augmented manifest, ``manifest.AUGMENTED_SCHEMA``) and its
  counts (``augment_shard``); both are written atomically and a rerun writes the same bytes;
- the augmented manifest and the augment counts: every shard's copies sorted by sample id, and the
  counts (``merge_augmented``).

Augmented images go to the content-addressed image store in their task type's encoding
(``augment.encoding``: JPEG for photos, PNG for OCR pages and GUI screens, ADR 0010). A video sample (exactly one
video, no image) gets its copies by frame sampling instead (``augment.video``,
``pipeline.sample_video``): each copy is a new mp4 clip of the sampled frames in the same store,
with its events retimed; its lineage's ``video_sampling`` entry replays it. Samples with several
images, several videos, both, or neither are skipped and counted (``skipped_by_reason``:
``multi_image``, ``multi_video``, ``image_and_video``, ``no_media``). A copy's answers may be
paraphrased (``augment.paraphrase``, ``paraphrase.apply``). Lineage facts live in ``lineage.py``,
replay in ``replay.py``, the gate in ``gate.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.augment.config import AugmentConfig, OpSpec
from vlforge.augment.lineage import op_counts
from vlforge.augment.ops import Op, build_op
from vlforge.augment.paraphrase.apply import paraphrase_copies
from vlforge.augment.paraphrase.filter import Scorer
from vlforge.augment.pipeline import augment_sample, parent_image, sample_video
from vlforge.manifest import (
    AUGMENTED_SCHEMA,
    AugmentedCopy,
    read_samples_by_id,
    read_split_ids,
    write_augmented,
    write_table,
)
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import atomic_write_text

log = logging.getLogger(__name__)
AUGMENTED_SPLIT = "train"


def equal_parts(total: int, parts: int) -> list[int]:
    """``total`` cut into ``parts`` sizes that differ by at most one, the larger first."""
    base, extra = divmod(total, parts) if parts else (0, 0)
    return [base + (index < extra) for index in range(parts)]


def plan_shards(run: RunDescription) -> list[dict[str, Any]]:
    """Cut the train split of the curated manifest into shards of at most ``augment.shard_size``; writes the plan.

    Val and test samples are never augmented (see the module docstring). Train sample ids are
    sorted, so the same curated file gives the same shards. The shards are as few as the size
    allows and of equal sizes (within one sample), so that tasks running side by side finish
    together instead of a short last shard leaving cores idle.

    Returns:
        One small dict per shard (JSON-able, for a mapped task): ``index``, ``name``
        (``shard-00000``), ``offset`` and ``count`` in the sorted train ids, and ``curated_sha256``
        of the file they were planned from.
    """
    shard_size = run.recipe.augment.shard_size
    ids, digest, by_split = _train_ids(run)
    counts = equal_parts(len(ids), -(-len(ids) // shard_size))
    offsets = [0, *accumulate(counts)][:-1]
    shards = [
        {"index": index, "name": f"shard-{index:05d}", "offset": offset, "count": count, "curated_sha256": digest}
        for index, (offset, count) in enumerate(zip(offsets, counts, strict=True))
    ]
    plan = {"shard_size": shard_size, "samples_by_split": by_split, "train_samples": len(ids), "shards": shards}
    atomic_write_text(run.run_dir.augment_plan, json.dumps(plan, indent=2, sort_keys=True))
    log.info("augment plan: %d train samples in %d shards of %d (not augmented: %s)", len(ids), len(shards), shard_size,
             {split: count for split, count in by_split.items() if split != AUGMENTED_SPLIT})
    return shards


def augment_shard(run: RunDescription, shard: dict[str, Any], scorer: Scorer | None = None) -> dict[str, Any]:
    """Augment one shard's train samples and write its copies and counts.

    One sample's image (or sampled frames) is in memory at a time, decoded once for all its copies; each
    copy's image or clip goes to the store at once. The copies' answers are then paraphrased for the
    whole shard in one scoring batch.

    Args:
        run: the run: its recipe's ``augment`` section, its phase and seed; parents are read from its
            image store and copies written to it.
        shard: one entry of ``plan_shards``.
        scorer: the BERTScore scorer for paraphrases; by default vlforge's, loaded on first use.

    Returns:
        The shard's counts, as written beside its copies.

    Raises:
        ValueError: when the curated manifest changed since the shards were planned.
        FileNotFoundError: when a parent's image or video is not in the store.
    """
    started = time.perf_counter()
    config, phase, seed = run.recipe.augment, run.phase, run.seed
    specs = config.phase_specs(phase)
    copies = config.copies(phase)
    video_copies = config.video_copies(phase)
    video_params = config.video.strategy_params()
    ids, digest, _ = _train_ids(run)
    if shard.get("curated_sha256") not in (None, digest):
        raise ValueError(f"{shard['name']}: the curated manifest changed since the shards were planned; plan them again")
    wanted = ids[shard["offset"] : shard["offset"] + shard["count"]]
    samples = read_samples_by_id(run.run_dir.curated, wanted) if wanted and (copies or video_copies) else []
    store = run.store
    built = _build_ops(specs)
    out: list[AugmentedCopy] = []
    dropped: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    video_counts = {"parents": 0, "clips": 0}
    for sample in samples:
        kind = _media_kind(sample)
        if kind == "video":
            video_counts["parents"] += 1
            ref = sample.videos[0]
            path = store.path_for(ref.sha256, ref.format)
            if not path.is_file():
                raise FileNotFoundError(f"sample {sample.sample_id}: video {ref.file_name} not in the store at {store.root}")
            for copy_index in range(video_copies):
                made = sample_video(sample, path, video_params, seed, copy_index)
                if isinstance(made, str):
                    dropped[made] += 1
                    continue
                new, clip = made
                store.put(clip, new.videos[0].format)
                out.append(AugmentedCopy(new, sample.sample_id, copy_index))
                video_counts["clips"] += 1
            continue
        if kind != "image":
            skipped[kind] += 1
            continue
        ref = sample.images[0]
        path = store.path_for(ref.sha256, ref.format)
        if not path.is_file():
            raise FileNotFoundError(f"sample {sample.sample_id}: image {ref.file_name} not in the store at {store.root}")
        if not copies:  # a phase that makes video clips only
            continue
        image = parent_image(sample, path.read_bytes())
        ops = [(op, spec.probability if spec.applies_to(sample.task_type) else 0.0) for op, spec in built]
        for copy_index in range(copies):
            result = augment_sample(
                sample,
                image,
                ops,
                seed,
                copy_index,
                on_lost_object=config.on_lost_object,
                bbox_2d_units=config.bbox_2d_units,
                encoding=config.encoding_for(sample.task_type),
            )
            if result is None:
                dropped[_drop_reason(sample, config)] += 1
                continue
            new, encoded = result
            store.put(encoded, new.images[0].format, new.images[0].sha256)
            out.append(AugmentedCopy(new, sample.sample_id, copy_index))
        del image
    paraphrase_counts = {"candidates": 0, "unchanged": 0, "kept": 0, "rejected": 0}
    if config.paraphrase.enabled and out:
        out, paraphrase_counts = paraphrase_copies(out, config, seed, scorer)
    out.sort(key=lambda item: item.sample.sample_id)
    name = shard["name"]
    write_augmented(out, AUGMENTED_SPLIT, phase, run.run_dir.augment_shard(name))
    counts = {
        "shard": name,
        "phase": phase,
        "seed": seed,
        "copies_per_sample": copies,
        "video_copies_per_sample": video_copies,
        "video": video_counts,
        "parents": len(samples),
        "augmented": len(out),
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(sorted(dropped.items())),
        "skipped_by_reason": dict(sorted(skipped.items())),
        "ops": op_counts((item.sample for item in out), specs),
        "paraphrase": paraphrase_counts,
    }
    atomic_write_text(run.run_dir.augment_shard_counts(name), json.dumps(counts, indent=2, sort_keys=True))
    log.info(
        "augment %s (%s): %d parents -> %d copies, %d dropped %s, %d skipped, ops applied %s, paraphrases kept %d "
        "rejected %d, %.1f s",
        name, phase, len(samples), len(out), counts["dropped"], counts["dropped_by_reason"], sum(skipped.values()),
        {op: entry["applied"] for op, entry in counts["ops"].items()}, paraphrase_counts["kept"],
        paraphrase_counts["rejected"], time.perf_counter() - started,
    )  # fmt: skip
    return counts


def merge_augmented(run: RunDescription) -> dict[str, Any]:
    """Merge every planned shard into the augmented manifest (sorted by sample id) and the augment counts.

    Returns:
        The augment counts: phase, seed, shards, parents, augmented copies, copies per
        sample, dropped copies and reasons, skipped samples and reasons, video parents and clips, per op its probability,
        eligible copies, applied count and share, and paraphrases (candidates, unchanged, kept, rejected).

    Raises:
        FileNotFoundError: naming each planned shard that has not been written.
        ValueError: when shards were made in different phases or with different seeds.
    """
    run_dir = run.run_dir
    plan = json.loads(run_dir.augment_plan.read_text(encoding="utf-8"))
    names = [shard["name"] for shard in plan["shards"]]
    missing = [name for name in names if not run_dir.augment_shard(name).is_file() or not run_dir.augment_shard_counts(name).is_file()]
    if missing:
        raise FileNotFoundError(f"augment shards not written yet in {run_dir.augment_plan.parent}: {missing}")
    shard_counts = [json.loads(run_dir.augment_shard_counts(name).read_text(encoding="utf-8")) for name in names]
    settings = {(counts["phase"], counts["seed"], counts["copies_per_sample"]) for counts in shard_counts}
    if len(settings) > 1:
        raise ValueError(f"augment shards disagree on (phase, seed, copies_per_sample): {sorted(settings)}")
    tables = [pq.read_table(run_dir.augment_shard(name), schema=AUGMENTED_SCHEMA) for name in names]
    table = pa.concat_tables(tables) if tables else AUGMENTED_SCHEMA.empty_table()
    table = table.sort_by("sample_id")
    write_table(table, run_dir.augmented)
    ops: dict[str, dict[str, Any]] = {}
    for counts in shard_counts:
        for op, entry in counts["ops"].items():
            total = ops.setdefault(op, {"probability": entry["probability"], "eligible": 0, "applied": 0})
            total["eligible"] += entry["eligible"]
            total["applied"] += entry["applied"]
    for entry in ops.values():
        entry["share"] = entry["applied"] / entry["eligible"] if entry["eligible"] else None
    phase, seed, copies = next(iter(settings)) if settings else (None, None, 0)
    stats = {
        "phase": phase,
        "seed": seed,
        "copies_per_sample": copies,
        "shards": len(names),
        "samples_by_split": plan["samples_by_split"],
        "parents": sum(counts["parents"] for counts in shard_counts),
        "augmented": table.num_rows,
        "dropped": sum(counts["dropped"] for counts in shard_counts),
        "dropped_by_reason": _summed(counts["dropped_by_reason"] for counts in shard_counts),
        "skipped_by_reason": _summed(counts["skipped_by_reason"] for counts in shard_counts),
        "video": _summed(counts.get("video", {}) for counts in shard_counts),
        "ops": ops,
        "paraphrase": _summed(counts["paraphrase"] for counts in shard_counts),
    }
    atomic_write_text(run_dir.augment_stats, json.dumps(stats, indent=2, sort_keys=True))
    log.info("augment merged %d shards: %d copies of %d parents, %d dropped", len(names), stats["augmented"],
             stats["parents"], stats["dropped"])  # fmt: skip
    return stats


def _train_ids(run: RunDescription) -> tuple[list[str], str, dict[str, int]]:
    """The sorted train ids of the curated manifest, a digest of that file, and its samples per split."""
    path = run.run_dir.curated
    with path.open("rb") as handle:  # by blocks: the curated file of a large run is never in memory whole
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:16]
    ids, splits = read_split_ids(path)
    by_split = dict(sorted(Counter(splits).items()))
    return sorted(i for i, split in zip(ids, splits, strict=True) if split == AUGMENTED_SPLIT), digest, by_split


def _media_kind(sample: Sample) -> str:
    """``image`` (one image, no video), ``video`` (one video, no image), else the reason it is skipped."""
    images, videos = len(sample.images), len(sample.videos)
    if images == 1 and not videos:
        return "image"
    if videos == 1 and not images:
        return "video"
    if images and videos:
        return "image_and_video"
    if images > 1:
        return "multi_image"
    return "multi_video" if videos > 1 else "no_media"


def _build_ops(specs: list[OpSpec]) -> list[tuple[Op, OpSpec]]:
    return [(build_op(spec.name, spec.params), spec) for spec in specs]


def _drop_reason(sample: Sample, config: AugmentConfig) -> str:
    """Why ``augment_sample`` dropped a copy.

    ``parent_has_no_answer``: the parent's conversation has no assistant turn; ``lost_object``: an op
    lost a target under ``drop_sample``; ``no_answer_left``: under ``drop_turns``, every question and
    answer was about a lost object.
    """
    if not any(turn.role == "assistant" for turn in sample.conversations):
        return "parent_has_no_answer"
    return "lost_object" if config.on_lost_object == "drop_sample" else "no_answer_left"


def _summed(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in dicts:
        total.update(counts)
    return dict(sorted(total.items()))
