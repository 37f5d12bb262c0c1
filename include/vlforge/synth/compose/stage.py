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
from vlforge.manifest import find_sample, read_split_manifest, write_split_manifest
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


def compose_all(
    train: list[Sample], config: ComposeConfig, seed: int, counter: TokenCounter, scorer: Scorer | None = None
) -> tuple[list[Sample], dict[str, Any]]:
    """Every composed sample of the train split, and counts: made and dropped per rule, dropped per reason.

    Args:
        train: the curated train samples (the only sources).
        config: the ``compose`` section.
        seed: the run's seed.
        counter: counts tokens for the budget.
        scorer: BERTScore for rewrites (``compose.rewrite``); by default vlforge's, loaded on first use.
    """
    candidates: list[tuple[str, Sample]] = []
    groups = same_image.image_groups(train)
    for rule, settings in (("multi_turn", config.multi_turn), ("multi_task", config.multi_task)):
        if not settings.enabled:
            continue
        for sources in [group for group in groups if same_image.can_compose(rule, group)][: settings.max_samples]:
            params = same_image.draw(sources, group_rng(seed, rule, sources), settings.max_pairs)
            candidates.append((rule, same_image.compose(rule, sources, params)))
    if config.multi_image.enabled:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D756C7469]))
        for sources in multi_image.draw_groups(multi_image.eligible(train), config.multi_image, rng):
            params = multi_image.draw(sources, config.multi_image, group_rng(seed, multi_image.RULE, sources))
            if params["questions"]:
                candidates.append((multi_image.RULE, multi_image.compose(sources, params)))
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


def run_compose(run: RunDescription) -> dict[str, Any]:
    """Compose samples from the run's curated train split; pack the train split when the recipe says so.

    Returns:
        The compose counts, as written to the run folder: composed and dropped per rule, dropped
        per reason, and the packing's efficiency and pack count when packing is on.
    """
    run_dir, config = run.run_dir, run.recipe.compose
    samples, splits = read_split_manifest(run_dir.curated)
    train = [sample for sample, split in zip(samples, splits, strict=True) if split == SPLIT]
    counter = TokenCounter(config)
    composed, stats = compose_all(train, config, run.seed, counter)
    write_split_manifest(composed, [SPLIT] * len(composed), run_dir.composed)
    if config.packing.enabled:
        items = [Packable(sample.sample_id, sample.task_type, counter.sample(sample)) for sample in train + composed]
        packing = pack(items, config.packing.max_tokens)
        atomic_write_text(run_dir.packing, json.dumps(packing.to_json(), indent=2, sort_keys=True))
        unpacked = Counter(packing.unpacked.values())
        stats["packing"] = {
            "packs": len(packing.packs),
            "efficiency": round(packing.efficiency, 6),
            "unpacked_by_reason": dict(sorted(unpacked.items())),
        }
    atomic_write_text(run_dir.compose_stats, json.dumps(stats, indent=2, sort_keys=True))
    log.info("compose: %d samples from %d train samples: %s", len(composed), len(train), stats["by_rule"])
    return stats
