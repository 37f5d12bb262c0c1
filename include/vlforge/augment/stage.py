"""The augment stage of a run: shard the train split, augment each shard, merge the shards, count.

Only the ``train`` split of ``curated.parquet`` is augmented: ``val`` and ``test`` measure the
model on data as it comes, and an augmented copy of a train image in them would leak the image
across splits. Files in the run's stage:

- ``augment/plan.json``: the shards (``plan_shards``);
- ``augment/shard-00000.parquet`` and ``augment/shard-00000.json``: one shard's augmented copies
  (the manifest's columns plus ``parent_id``, ``copy_index``, ``split``, ``phase``) and counts
  (``augment_shard``); both are written atomically and a rerun writes the same bytes;
- ``augmented.parquet`` and ``augment_stats.json``: every shard's copies sorted by sample id, and
  the counts (``merge_augmented``).

Augmented images go to the content-addressed image store as PNG. A video sample (exactly one
video, no image) gets its copies by frame sampling instead (``augment.video``,
``pipeline.sample_video``): each copy is a new mp4 clip of the sampled frames in the same store,
with its events retimed; its lineage's ``video_sampling`` entry replays it. Samples with several
images, several videos, both, or neither are skipped and counted (``skipped_by_reason``:
``multi_image``, ``multi_video``, ``image_and_video``, ``no_media``). A copy's answers may be
paraphrased (``augment.paraphrase``); a kept paraphrase is recorded as a
``LineageOp("paraphrase", {"backend", "threshold", "turns": [{"turn", "f1", "rule"}]})``, which
image replay skips. ``check_replay`` replays a stored copy from its parent (``vlforge replay``).
The per-copy facts the augment gate checks (``op_counts``, ``side_words_mismatch``,
``empty_conversation``, ``paraphrase_scores``) live here so that the stats and the gate read the
same numbers. No Airflow wiring lives here.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vlforge.augment.config import AugmentConfig, OpSpec
from vlforge.augment.paraphrase.filter import Scorer
from vlforge.augment.pipeline import REPORT_OPS, VIDEO_SAMPLING, augment_sample, replay, replay_video, sample_rng, sample_video
from vlforge.augment.text import side_words, swap_left_right
from vlforge.config import Recipe
from vlforge.manifest import SCHEMA, samples_to_table, table_to_samples
from vlforge.records import LineageOp, Sample
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text, sha256_bytes

log = logging.getLogger(__name__)
AUGMENT_DIR = "augment"
PLAN = "plan.json"
AUGMENTED = "augmented.parquet"
AUGMENT_STATS = "augment_stats.json"
AUGMENTED_SPLIT = "train"
EXTRA_COLUMNS = pa.schema(
    [("parent_id", pa.string()), ("copy_index", pa.int32()), ("split", pa.string()), ("phase", pa.string())]
)
AUGMENTED_SCHEMA = pa.schema(list(SCHEMA) + list(EXTRA_COLUMNS))
# Candidate files, in order, where ``check_replay`` looks for a copy and its parent.
MANIFEST_FILES = ("augmented.parquet", "manifest.parquet", "curated.parquet", "ingested.parquet")


def plan_shards(stage: Path, shard_size: int) -> list[dict[str, Any]]:
    """Cut the train split of ``stage/curated.parquet`` into shards; writes ``stage/augment/plan.json``.

    Val and test samples are never augmented (see the module docstring). Train sample ids are
    sorted, so the same curated file gives the same shards.

    Args:
        stage: the run's stage folder.
        shard_size: train samples per shard (``augment.shard_size``).

    Returns:
        One small dict per shard (JSON-able, for a mapped task): ``index``, ``name``
        (``shard-00000``), ``offset`` and ``count`` in the sorted train ids, and ``curated_sha256``
        of the file they were planned from.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    ids, digest, by_split = _train_ids(stage)
    shards = [
        {
            "index": index,
            "name": f"shard-{index:05d}",
            "offset": offset,
            "count": min(shard_size, len(ids) - offset),
            "curated_sha256": digest,
        }
        for index, offset in enumerate(range(0, len(ids), shard_size))
    ]
    plan = {"shard_size": shard_size, "samples_by_split": by_split, "train_samples": len(ids), "shards": shards}
    atomic_write_text(stage / AUGMENT_DIR / PLAN, json.dumps(plan, indent=2, sort_keys=True))
    log.info("augment plan: %d train samples in %d shards of %d (not augmented: %s)", len(ids), len(shards), shard_size,
             {split: count for split, count in by_split.items() if split != AUGMENTED_SPLIT})
    return shards


def augment_shard(
    stage: Path,
    shard: dict[str, Any],
    recipe: Recipe,
    phase: str,
    seed: int,
    store_dir: Path,
    *,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Augment one shard's train samples and write its copies and counts.

    One sample's image (or sampled frames) is in memory at a time; each copy's PNG or clip goes to
    the store at once. The copies' answers are then paraphrased for the whole shard in one scoring batch.

    Args:
        stage: the run's stage folder.
        shard: one entry of ``plan_shards``.
        recipe: the resolved recipe (its ``augment`` section).
        phase: the phase to run (``augment.phases``), e.g. ``main``.
        seed: the run's seed.
        store_dir: the content-addressed image store (parents are read from it, copies written to it).
        scorer: the BERTScore scorer for paraphrases; by default vlforge's, loaded on first use.

    Returns:
        The shard's counts, as written to ``stage/augment/<name>.json``.

    Raises:
        ValueError: when ``curated.parquet`` changed since the shards were planned, or an op is invalid.
        FileNotFoundError: when a parent's image or video is not in the store.
    """
    started = time.perf_counter()
    config = recipe.augment
    specs = config.phase_specs(phase)
    copies = config.copies(phase)
    video_copies = config.video_copies(phase)
    video_params = config.video.strategy_params()
    ids, digest, _ = _train_ids(stage)
    if shard.get("curated_sha256") not in (None, digest):
        raise ValueError(f"{shard['name']}: curated.parquet changed since the shards were planned; plan them again")
    wanted = ids[shard["offset"] : shard["offset"] + shard["count"]]
    samples = _read_samples(stage / _curated_name(), wanted) if wanted and (copies or video_copies) else []
    store = ImageStore(store_dir)
    built = _build_ops(specs)
    out: list[tuple[Sample, str, int]] = []
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
                out.append((new, sample.sample_id, copy_index))
                video_counts["clips"] += 1
            continue
        if kind != "image":
            skipped[kind] += 1
            continue
        ref = sample.images[0]
        path = store.path_for(ref.sha256, ref.format)
        if not path.is_file():
            raise FileNotFoundError(f"sample {sample.sample_id}: image {ref.file_name} not in the store at {store.root}")
        data = path.read_bytes()
        ops = [(op, spec.probability if spec.applies_to(sample.task_type) else 0.0) for op, spec in built]
        for copy_index in range(copies):
            result = augment_sample(
                sample, data, ops, seed, copy_index, on_lost_object=config.on_lost_object, bbox_2d_units=config.bbox_2d_units
            )
            if result is None:
                dropped[_drop_reason(sample, config)] += 1
                continue
            new, png = result
            store.put(png, new.images[0].format)
            out.append((new, sample.sample_id, copy_index))
        del data
    paraphrase_counts = {"candidates": 0, "unchanged": 0, "kept": 0, "rejected": 0}
    if config.paraphrase.enabled and out:
        out, paraphrase_counts = _paraphrase(out, config, seed, scorer)
    out.sort(key=lambda item: item[0].sample_id)
    name = shard["name"]
    _write_copies(stage / AUGMENT_DIR / f"{name}.parquet", out, phase)
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
        "ops": op_counts((item[0] for item in out), specs),
        "paraphrase": paraphrase_counts,
    }
    atomic_write_text(stage / AUGMENT_DIR / f"{name}.json", json.dumps(counts, indent=2, sort_keys=True))
    log.info(
        "augment %s (%s): %d parents -> %d copies, %d dropped %s, %d skipped, ops applied %s, paraphrases kept %d "
        "rejected %d, %.1f s",
        name, phase, len(samples), len(out), counts["dropped"], counts["dropped_by_reason"], sum(skipped.values()),
        {op: entry["applied"] for op, entry in counts["ops"].items()}, paraphrase_counts["kept"],
        paraphrase_counts["rejected"], time.perf_counter() - started,
    )  # fmt: skip
    return counts


def merge_augmented(stage: Path) -> dict[str, Any]:
    """Merge every planned shard into ``stage/augmented.parquet`` (sorted by sample id) and ``augment_stats.json``.

    Returns:
        ``augment_stats.json``'s content: phase, seed, shards, parents, augmented copies, copies per
        sample, dropped copies and reasons, skipped samples and reasons, video parents and clips, per op its probability,
        eligible copies, applied count and share, and paraphrases (candidates, unchanged, kept, rejected).

    Raises:
        FileNotFoundError: naming each planned shard that has not been written.
        ValueError: when shards were made in different phases or with different seeds.
    """
    folder = stage / AUGMENT_DIR
    plan = json.loads((folder / PLAN).read_text(encoding="utf-8"))
    names = [shard["name"] for shard in plan["shards"]]
    missing = [name for name in names if not (folder / f"{name}.parquet").is_file() or not (folder / f"{name}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"augment shards not written yet in {folder}: {missing}")
    shard_counts = [json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for name in names]
    settings = {(counts["phase"], counts["seed"], counts["copies_per_sample"]) for counts in shard_counts}
    if len(settings) > 1:
        raise ValueError(f"augment shards disagree on (phase, seed, copies_per_sample): {sorted(settings)}")
    tables = [pq.read_table(folder / f"{name}.parquet", schema=AUGMENTED_SCHEMA) for name in names]
    table = pa.concat_tables(tables) if tables else AUGMENTED_SCHEMA.empty_table()
    table = table.sort_by("sample_id")
    _write_table(table, stage / AUGMENTED)
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
    atomic_write_text(stage / AUGMENT_STATS, json.dumps(stats, indent=2, sort_keys=True))
    log.info("augment merged %d shards: %d copies of %d parents, %d dropped", len(names), stats["augmented"],
             stats["parents"], stats["dropped"])  # fmt: skip
    return stats


def read_augmented(path: Path) -> list[Sample]:
    """The samples of ``augmented.parquet`` or of a shard file (the extra columns left out)."""
    return table_to_samples(pq.read_table(path, columns=SCHEMA.names))


# --- the facts the augment gate checks ---------------------------------------------------------


def parent_id(sample: Sample) -> str | None:
    """The sample id in the last ``parent`` lineage entry, ``None`` for a sample that is not a copy."""
    parents = [entry for entry in sample.lineage if entry.op == "parent"]
    return json.loads(parents[-1].params_json).get("sample_id") if parents else None


def applied_ops(sample: Sample) -> list[LineageOp]:
    """The image ops applied to make this copy (after its last ``parent`` entry; reports and frame sampling left out)."""
    starts = [index for index, entry in enumerate(sample.lineage) if entry.op == "parent"]
    tail = sample.lineage[starts[-1] + 1 :] if starts else ()
    return [entry for entry in tail if entry.op not in REPORT_OPS and entry.op != VIDEO_SAMPLING]


def op_counts(samples: Iterable[Sample], specs: list[OpSpec]) -> dict[str, dict[str, Any]]:
    """Per op of the phase: its probability, the copies it could apply to (task types) and how many it was applied to.

    Video copies (no image) are never eligible: image ops do not run on them.
    """
    counts = {spec.name: {"probability": spec.probability, "eligible": 0, "applied": 0} for spec in specs}
    for sample in samples:
        if not sample.images:
            continue
        applied = {entry.op for entry in applied_ops(sample)}
        for spec in specs:
            if spec.applies_to(sample.task_type):
                counts[spec.name]["eligible"] += 1
                counts[spec.name]["applied"] += spec.name in applied
    return counts


def side_words_mismatch(sample: Sample, parent: Sample | None) -> str | None:
    """Whether a copy's left/right words agree with its flip lineage; ``None`` when they do, else why not.

    The rule: take the parent's turns, leave out the turns the lineage says were dropped
    (``dropped_turns``), apply ``swap_left_right`` once if an odd number of the applied ops mirrored
    the image, and compare each turn's sequence of left/right words (``side_words``) with the copy's.
    Paraphrases never change these words (they are protected spans), and boxes rewritten in the
    text do not contain them, so the sequences must be equal.
    """
    if parent is None:
        return f"{sample.sample_id}: parent {parent_id(sample)} not found"
    from vlforge.augment.ops import build_op

    mirrors = 0
    for entry in applied_ops(sample):
        params = json.loads(entry.params_json)
        mirrors += build_op(entry.op, params.pop("recipe", {})).mirrors(params)
    dropped: set[int] = set()
    starts = [index for index, entry in enumerate(sample.lineage) if entry.op == "parent"]
    for entry in sample.lineage[starts[-1] + 1 :] if starts else ():
        if entry.op == "dropped_turns":
            dropped.update(json.loads(entry.params_json)["turns"])
    expected = [turn.content for index, turn in enumerate(parent.conversations) if index not in dropped]
    if mirrors % 2:
        expected = [swap_left_right(text) for text in expected]
    found = [turn.content for turn in sample.conversations]
    if len(expected) != len(found):
        return f"{sample.sample_id}: {len(found)} turns, its lineage leaves {len(expected)} of the parent's"
    for index, (want, have) in enumerate(zip(expected, found, strict=True)):
        if side_words(want) != side_words(have):
            return (
                f"{sample.sample_id} turn {index} ({mirrors} mirror(s)): expected {side_words(want)}, "
                f"found {side_words(have)}"
            )
    return None


def empty_conversation(sample: Sample, parent: Sample | None) -> str | None:
    """``None`` unless the copy lost every answer its parent had, or has a blank turn; then why."""
    if any(not turn.content.strip() for turn in sample.conversations):
        return f"{sample.sample_id}: a blank turn"
    parent_answers = parent is None or any(t.role == "assistant" and t.content.strip() for t in parent.conversations)
    answers = any(t.role == "assistant" and t.content.strip() for t in sample.conversations)
    return f"{sample.sample_id}: no answer left" if parent_answers and not answers else None


def paraphrase_scores(samples: Iterable[Sample]) -> list[tuple[str, int, float]]:
    """``(sample_id, turn, f1)`` of every kept paraphrase that BERTScore judged (lexicon-rule ones have no F1)."""
    rows = []
    for sample in samples:
        for entry in sample.lineage:
            if entry.op == "paraphrase":
                for turn in json.loads(entry.params_json)["turns"]:
                    if turn["f1"] is not None:
                        rows.append((sample.sample_id, int(turn["turn"]), float(turn["f1"])))
    return rows


# --- replay ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayCheck:
    """What ``check_replay`` found: ``ok`` when the replayed bytes equal the stored image (or clip, for a video copy)."""

    sample_id: str
    parent_id: str
    ok: bool
    ops: tuple[str, ...]
    stored_sha256: str
    replayed_sha256: str
    detail: str


def check_replay(folder: Path, sample_id: str, store_dir: Path | None = None) -> ReplayCheck:
    """Replay an augmented copy from its parent and compare the bytes with its stored image.

    A video copy (one video, a ``video_sampling`` lineage entry) is replayed with
    ``pipeline.replay_video`` from its parent's video and compared with its stored clip.

    Args:
        folder: a release folder or a run's stage folder (or one Parquet manifest in it): the copy and
            its parent are looked up in ``MANIFEST_FILES`` there.
        sample_id: the copy's sample id.
        store_dir: the image store; the folder's ``images/`` (a release) is tried first.

    Returns:
        The check; ``ok`` is False when the bytes differ or the stored image is missing.

    Raises:
        LookupError: when the copy, its lineage's parent or the parent's image cannot be found.
    """
    folder = Path(folder)
    files = [folder] if folder.is_file() else [folder / name for name in MANIFEST_FILES if (folder / name).is_file()]
    base = folder.parent if folder.is_file() else folder
    if not files:
        raise LookupError(f"no manifest in {folder}; looked for {', '.join(MANIFEST_FILES)}")
    sample = _find(files, sample_id)
    if sample is None:
        raise LookupError(f"sample {sample_id} not in {', '.join(str(path) for path in files)}")
    parent_key = parent_id(sample)
    if parent_key is None:
        raise LookupError(f"sample {sample_id} is not an augmented copy: its lineage has no 'parent' entry")
    parent = _find(files, parent_key)
    if parent is None:
        raise LookupError(f"parent {parent_key} of {sample_id} not in {', '.join(str(path) for path in files)}")
    stores = [base / "images"] + ([Path(store_dir)] if store_dir else [])

    def media_path(sha256: str, extension: str) -> Path | None:
        for root in stores:
            for path in (root / f"{sha256}.{extension}", ImageStore(root).path_for(sha256, extension)):
                if path.is_file():
                    return path
        return None

    def image_bytes(sha256: str, extension: str) -> bytes | None:
        path = media_path(sha256, extension)
        return path.read_bytes() if path else None

    if sample.videos and not sample.images:
        parent_video, ref = parent.videos[0], sample.videos[0]
        parent_path = media_path(parent_video.sha256, parent_video.format)
        if parent_path is None:
            raise LookupError(f"parent video {parent_video.file_name} not found in {', '.join(map(str, stores))}")
        replayed = replay_video(parent, parent_path, sample.lineage)
        ops: tuple[str, ...] = (VIDEO_SAMPLING,)
    else:
        parent_ref, ref = parent.images[0], sample.images[0]
        parent_data = image_bytes(parent_ref.sha256, parent_ref.format)
        if parent_data is None:
            raise LookupError(f"parent image {parent_ref.file_name} not found in {', '.join(map(str, stores))}")
        replayed = replay(parent, parent_data, sample.lineage)
        ops = tuple(entry.op for entry in applied_ops(sample))
    stored = image_bytes(ref.sha256, ref.format)
    replayed_sha = sha256_bytes(replayed)
    kind = "clip" if sample.videos and not sample.images else "image"
    if stored is None:
        detail = f"stored {kind} {ref.file_name} not found; replayed {replayed_sha[:12]}"
    elif stored != replayed:
        detail = f"replayed bytes {replayed_sha[:12]} differ from the stored {kind} {sha256_bytes(stored)[:12]}"
    else:
        detail = f"replayed {len(ops)} op(s) from parent {parent.sample_id}: bytes equal the stored {kind} {ref.sha256[:12]}"
    ok = stored is not None and stored == replayed and replayed_sha == ref.sha256
    return ReplayCheck(sample_id, parent.sample_id, ok, ops, ref.sha256, replayed_sha, detail)


# --- helpers ---------------------------------------------------------------------------------


def _curated_name() -> str:
    from vlforge.release import CURATED  # imported late: release.py may come to import this module

    return CURATED


def _train_ids(stage: Path) -> tuple[list[str], str, dict[str, int]]:
    from vlforge.release import SPLIT_COLUMN

    path = stage / _curated_name()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    table = pq.read_table(path, columns=["sample_id", SPLIT_COLUMN])
    ids, splits = table.column("sample_id").to_pylist(), table.column(SPLIT_COLUMN).to_pylist()
    by_split = dict(sorted(Counter(str(split) for split in splits).items()))
    return sorted(i for i, split in zip(ids, splits, strict=True) if split == AUGMENTED_SPLIT), digest, by_split


def _read_samples(path: Path, ids: list[str]) -> list[Sample]:
    table = pq.read_table(path, columns=SCHEMA.names, filters=[("sample_id", "in", ids)])
    return sorted(table_to_samples(table), key=lambda sample: sample.sample_id)


def _find(files: list[Path], sample_id: str) -> Sample | None:
    for path in files:
        names = pq.read_schema(path).names
        if not set(SCHEMA.names) <= set(names):
            continue
        table = pq.read_table(path, columns=SCHEMA.names, filters=[("sample_id", "=", sample_id)])
        if table.num_rows:
            return table_to_samples(table.slice(0, 1))[0]
    return None


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


def _build_ops(specs: list[OpSpec]) -> list[tuple[Any, OpSpec]]:
    from vlforge.augment.ops import build_op

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


def _paraphrase(
    out: list[tuple[Sample, str, int]], config: AugmentConfig, seed: int, scorer: Scorer | None
) -> tuple[list[tuple[Sample, str, int]], dict[str, int]]:
    """Paraphrase the answers of a ``paraphrase.probability`` share of the copies, filtered by BERTScore."""
    from vlforge.augment.paraphrase import filter_paraphrases

    settings = config.paraphrase
    paraphraser = _paraphraser(config)
    where: list[tuple[int, int]] = []
    originals: list[str] = []
    candidates: list[str] = []
    unchanged = 0
    for position, (sample, _, _) in enumerate(out):
        rng = sample_rng(seed, f"{sample.sample_id}/paraphrase", 0)
        if not rng.random() < settings.probability:
            continue
        turns = [i for i, turn in enumerate(sample.conversations) if turn.role == "assistant" and turn.content.strip()]
        texts = [sample.conversations[i].content for i in turns]
        for index, text, candidate in zip(turns, texts, paraphraser.paraphrase(texts, rng), strict=True):
            if " ".join(text.split()) == " ".join(candidate.split()):
                unchanged += 1
                continue
            where.append((position, index))
            originals.append(text)
            candidates.append(candidate)
    counts = {"candidates": len(candidates) + unchanged, "unchanged": unchanged, "kept": 0, "rejected": 0}
    if not candidates:
        return out, counts
    if scorer is None:
        from vlforge.quality.stage import LazyBertScorer

        scorer = LazyBertScorer(settings.bertscore_batch_size)
    kept, rejected = filter_paraphrases(originals, candidates, scorer, settings.bertscore_threshold)
    counts.update(kept=len(kept), rejected=rejected)
    by_sample: dict[int, list[tuple[int, Any]]] = {}
    for item in kept:
        position, turn = where[item.index]
        by_sample.setdefault(position, []).append((turn, item))
    result = list(out)
    for position, items in by_sample.items():
        sample, parent, copy_index = out[position]
        turns = list(sample.conversations)
        for turn, item in items:
            turns[turn] = turns[turn].model_copy(update={"content": item.paraphrase})
        entry = LineageOp(
            op="paraphrase",
            params_json=json.dumps(
                {
                    "backend": settings.backend,
                    "threshold": settings.bertscore_threshold,
                    "turns": [{"turn": turn, "f1": item.f1, "rule": item.rule} for turn, item in items],
                },
                sort_keys=True,
            ),
        )
        new = sample.model_copy(update={"conversations": tuple(turns), "lineage": (*sample.lineage, entry)})
        result[position] = (new, parent, copy_index)
    return result, counts


def _paraphraser(config: AugmentConfig) -> Any:
    settings = config.paraphrase
    if settings.backend == "model":
        from vlforge.augment.paraphrase import TransformersParaphraser

        return TransformersParaphraser(str(settings.model_path), kind=settings.model_kind)
    from vlforge.augment.paraphrase import RuleParaphraser

    return RuleParaphraser(substitute_rate=settings.substitute_rate, restructure_rate=settings.restructure_rate)


def _write_copies(path: Path, out: list[tuple[Sample, str, int]], phase: str) -> None:
    table = samples_to_table(sample for sample, _, _ in out)
    columns = {
        "parent_id": [parent for _, parent, _ in out],
        "copy_index": [copy_index for _, _, copy_index in out],
        "split": [AUGMENTED_SPLIT] * len(out),
        "phase": [phase] * len(out),
    }
    for field in EXTRA_COLUMNS:
        table = table.append_column(field, pa.array(columns[field.name], type=field.type))
    _write_table(table, path)


def _write_table(table: pa.Table, path: Path) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    atomic_write_bytes(path, buffer.getvalue())


def _summed(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in dicts:
        total.update(counts)
    return dict(sorted(total.items()))


__all__ = [
    "AUGMENTED",
    "AUGMENTED_SCHEMA",
    "AUGMENT_STATS",
    "ReplayCheck",
    "applied_ops",
    "augment_shard",
    "check_replay",
    "empty_conversation",
    "merge_augmented",
    "op_counts",
    "paraphrase_scores",
    "plan_shards",
    "side_words_mismatch",
]
