"""The compose stage of a run: composed samples from the curated train split, within budgets, optionally packed.

Only ``train`` samples are sources, so val and test stay real and no source crosses a split; every
composed sample goes to ``train``. Writes the run folder's composed manifest, its counts and,
when packing is on, the packing of the train split (curated and composed samples).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vlforge.augment.paraphrase import TransformersParaphraser
from vlforge.augment.paraphrase.filter import Scorer
from vlforge.layout import sample_manifests
from vlforge.manifest import find_sample, read_samples_by_id, read_split_manifest, write_split_manifest
from vlforge.quality.metrics.bertscore import LazyBertScorer
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import atomic_write_text
from vlforge.synth.compose import multi_image, same_image
from vlforge.synth.compose.budget import TokenCounter, over_budget
from vlforge.synth.compose.config import ComposeConfig
from vlforge.synth.compose.packing import Packable, pack
from vlforge.synth.compose.rewrite import REWRITE_OP, apply_rewrites, rewrite_answers
from vlforge.synth.compose.rule import compose_params, group_rng

log = logging.getLogger(__name__)
SPLIT = "train"
RULES = ("multi_turn", "multi_task", "multi_image")


def plan_jobs(train: list[Sample], config: ComposeConfig, seed: int) -> list[dict[str, Any]]:
    """Every sample to compose from the train split, as ``{rule, sources, params}``: drawn here, made by shards.

    Drawing is cheap (no image is read), so it is done once for the whole split: which samples
    share an image, which pictures go together, which questions are asked.
    """
    jobs: list[dict[str, Any]] = []
    groups = same_image.image_groups(train)
    for rule, settings in (("multi_turn", config.multi_turn), ("multi_task", config.multi_task)):
        if not settings.enabled:
            continue
        for sources in [group for group in groups if same_image.can_compose(rule, group)][: settings.max_samples]:
            params = same_image.draw(sources, group_rng(seed, rule, sources), settings.max_pairs)
            jobs.append({"rule": rule, "sources": [source.sample_id for source in sources], "params": params})
    if config.multi_image.enabled:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D756C7469]))
        for sources in multi_image.draw_groups(multi_image.eligible(train), config.multi_image, rng):
            params = multi_image.draw(sources, config.multi_image, group_rng(seed, multi_image.RULE, sources))
            if params["questions"]:
                jobs.append({"rule": multi_image.RULE, "sources": [source.sample_id for source in sources], "params": params})
    return jobs


def make_samples(
    jobs: list[dict[str, Any]],
    sources: dict[str, Sample],
    config: ComposeConfig,
    seed: int,
    counter: TokenCounter,
    scorer: Scorer | None = None,
) -> tuple[list[Sample], dict[str, Any]]:
    """The composed samples of ``jobs`` within the recipe's limits, and counts: made and dropped per rule and reason.

    Args:
        jobs: entries of ``plan_jobs``.
        sources: the jobs' source samples by id.
        config: the ``compose`` section.
        seed: the run's seed.
        counter: counts tokens for the budget.
        scorer: BERTScore for rewrites (``compose.rewrite``); by default vlforge's, loaded on first use.
    """
    candidates = []
    for job in jobs:
        group = [sources[source_id] for source_id in job["sources"]]
        rule = job["rule"]
        made_one = multi_image.compose(group, job["params"]) if rule == multi_image.RULE else same_image.compose(rule, group, job["params"])
        candidates.append((rule, made_one))
    stats: dict[str, Any] = {}
    if config.rewrite.enabled and candidates:
        settings = config.rewrite
        paraphraser = TransformersParaphraser(str(settings.model_path), kind=settings.model_kind)
        rewritten, stats["rewrite"] = rewrite_answers(
            [sample for _, sample in candidates],
            settings,
            seed,
            paraphraser,
            scorer or LazyBertScorer(settings.bertscore_batch_size),
        )
        candidates = [(rule, sample) for (rule, _), sample in zip(candidates, rewritten, strict=True)]
    made: list[Sample] = []
    counts: dict[str, Any] = {rule: {"composed": 0, "dropped": 0} for rule in RULES}
    reasons: Counter[str] = Counter()
    for rule, sample in candidates:
        reason = over_budget(sample, config, counter)
        counts[rule]["dropped" if reason else "composed"] += 1
        if reason:
            reasons[reason] += 1
        else:
            made.append(sample)
    made.sort(key=lambda sample: sample.sample_id)
    return made, {**stats, "by_rule": counts, "dropped_by_reason": dict(sorted(reasons.items())), "composed": len(made)}


def compose_all(
    train: list[Sample], config: ComposeConfig, seed: int, counter: TokenCounter, scorer: Scorer | None = None
) -> tuple[list[Sample], dict[str, Any]]:
    """Every composed sample of the train split in one go (``plan_jobs`` then ``make_samples``)."""
    by_id = {sample.sample_id: sample for sample in train}
    return make_samples(plan_jobs(train, config, seed), by_id, config, seed, counter, scorer)


def recompose(sample: Sample, find: Callable[[str], Sample | None]) -> Sample:
    """A composed sample made again from its sources (looked up with ``find``) and its recorded parameters.

    Raises:
        LookupError: when the sample was not composed, or a source cannot be found.
    """
    recorded = compose_params(sample)
    if recorded is None:
        raise LookupError(f"sample {sample.sample_id} was not composed: its lineage has no 'compose' entry")
    rule, ids = recorded.pop("rule"), recorded.pop("sources")
    sources = [find(source_id) for source_id in ids]
    missing = [source_id for source_id, source in zip(ids, sources, strict=True) if source is None]
    if missing:
        raise LookupError(f"sources {missing} of composed sample {sample.sample_id} not found")
    found = [source for source in sources if source is not None]
    again = multi_image.compose(found, recorded) if rule == multi_image.RULE else same_image.compose(rule, found, recorded)
    rewrites = tuple(entry for entry in sample.lineage if entry.op == REWRITE_OP)
    return apply_rewrites(again.model_copy(update={"lineage": again.lineage + rewrites})) if rewrites else again


def check_recompose(folder: Path, sample_id: str) -> tuple[bool, str]:
    """Whether composed sample ``sample_id`` of a release or run folder equals what its lineage makes again.

    Returns:
        ``(ok, detail)``.

    Raises:
        LookupError: when the sample is not in the folder's manifests, was not composed, or a source is missing.
    """
    manifests = sample_manifests(folder)
    sample = find_sample(manifests, sample_id)
    if sample is None:
        raise LookupError(f"sample {sample_id} not in {folder}")
    again = recompose(sample, lambda source_id: find_sample(manifests, source_id))
    rule = (compose_params(sample) or {}).get("rule")
    if again == sample:
        return True, f"recomposed {rule} from {sample.source.record_id}: equal to the stored sample"
    return False, f"recomposed {rule} from {sample.source.record_id} differs from the stored sample"


def _train(run: RunDescription) -> list[Sample]:
    samples, splits = read_split_manifest(run.run_dir.curated)
    return [sample for sample, split in zip(samples, splits, strict=True) if split == SPLIT]


def plan_compose(run: RunDescription) -> list[dict[str, Any]]:
    """Draw every sample to compose from the run's curated train split; cut the jobs into shards.

    Returns:
        One small dict per shard (for a mapped task): ``index``, ``name``, ``offset``, ``count``.
    """
    config = run.recipe.compose
    jobs = plan_jobs(_train(run), config, run.seed)
    size = config.shard_size
    shards = [
        {"index": index, "name": f"shard-{index:05d}", "offset": offset, "count": min(size, len(jobs) - offset)}
        for index, offset in enumerate(range(0, len(jobs), size))
    ]
    atomic_write_text(run.run_dir.compose_plan, json.dumps({"jobs": jobs, "shards": shards}, indent=2, sort_keys=True, ensure_ascii=False))
    log.info("compose plan: %d samples to compose in %d shards of %d", len(jobs), len(shards), size)
    return shards


def compose_shard(run: RunDescription, shard: dict[str, Any], scorer: Scorer | None = None) -> dict[str, Any]:
    """Compose one shard's jobs; writes its samples and counts beside the plan.

    Returns:
        The shard's counts.
    """
    config, run_dir = run.recipe.compose, run.run_dir
    jobs = json.loads(run_dir.compose_plan.read_text(encoding="utf-8"))["jobs"][shard["offset"] : shard["offset"] + shard["count"]]
    ids = sorted({source_id for job in jobs for source_id in job["sources"]})
    sources = {sample.sample_id: sample for sample in read_samples_by_id(run_dir.curated, ids)} if ids else {}
    made, counts = make_samples(jobs, sources, config, run.seed, TokenCounter(config), scorer)
    write_split_manifest(made, [SPLIT] * len(made), run_dir.compose_shard(shard["name"]))
    atomic_write_text(run_dir.compose_shard_counts(shard["name"]), json.dumps(counts, indent=2, sort_keys=True))
    log.info("compose %s: %d jobs -> %d samples, dropped %s", shard["name"], len(jobs), len(made), counts["dropped_by_reason"])
    return counts


def merge_composed(run: RunDescription) -> dict[str, Any]:
    """Every shard's samples into the run's composed manifest, the counts summed; the train split packed when asked.

    Returns:
        The compose counts: composed and dropped per rule, dropped per reason, rewrites, and the
        packing's efficiency and pack count when packing is on.

    Raises:
        FileNotFoundError: naming each planned shard not written yet.
    """
    run_dir, config = run.run_dir, run.recipe.compose
    names = [shard["name"] for shard in json.loads(run_dir.compose_plan.read_text(encoding="utf-8"))["shards"]]
    missing = [name for name in names if not run_dir.compose_shard(name).is_file() or not run_dir.compose_shard_counts(name).is_file()]
    if missing:
        raise FileNotFoundError(f"compose shards not written yet in {run_dir.compose_plan.parent}: {missing}")
    composed: list[Sample] = []
    counts = [json.loads(run_dir.compose_shard_counts(name).read_text(encoding="utf-8")) for name in names]
    for name in names:
        composed += read_split_manifest(run_dir.compose_shard(name))[0]
    composed.sort(key=lambda sample: sample.sample_id)
    write_split_manifest(composed, [SPLIT] * len(composed), run_dir.composed)
    stats: dict[str, Any] = {
        "by_rule": {rule: {key: sum(c["by_rule"][rule][key] for c in counts) for key in ("composed", "dropped")} for rule in RULES},
        "dropped_by_reason": dict(sorted(sum((Counter(c["dropped_by_reason"]) for c in counts), Counter()).items())),
        "composed": len(composed),
        "shards": len(names),
    }
    if config.rewrite.enabled:
        stats["rewrite"] = {key: sum(c.get("rewrite", {}).get(key, 0) for c in counts) for key in ("candidates", "kept", "rejected")}
    if config.packing.enabled:
        counter = TokenCounter(config)
        items = [Packable(sample.sample_id, sample.task_type, counter.sample(sample)) for sample in _train(run) + composed]
        packing = pack(items, config.packing.max_tokens)
        atomic_write_text(run_dir.packing, json.dumps(packing.to_json(), indent=2, sort_keys=True))
        stats["packing"] = {
            "packs": len(packing.packs),
            "efficiency": round(packing.efficiency, 6),
            "unpacked_by_reason": dict(sorted(Counter(packing.unpacked.values()).items())),
        }
    atomic_write_text(run_dir.compose_stats, json.dumps(stats, indent=2, sort_keys=True))
    log.info("compose merged %d shards: %d samples, %s", len(names), len(composed), stats["by_rule"])
    return stats


def run_compose(run: RunDescription, scorer: Scorer | None = None) -> dict[str, Any]:
    """The whole compose stage in one process: plan, every shard, merge (the DAG maps the shards instead)."""
    for shard in plan_compose(run):
        compose_shard(run, shard, scorer)
    return merge_composed(run)
