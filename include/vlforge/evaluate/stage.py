"""What each task of the ``vlforge_evaluate`` DAG calls: prepare, plan, one shard of each evaluator, merge.

The run description (``EvaluationRun``) is the small JSON value the tasks pass on, as ``vlforge.run``'s is
for releases. Everything is written into the evaluation folder (``layout.EvaluationDir``) and the catalog;
the release folder is only read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vlforge.catalog import open_catalog
from vlforge.config import Recipe, RecipeError, load_recipe, recipe_path
from vlforge.evaluate import alignment, readability
from vlforge.evaluate.config import EvaluateConfig
from vlforge.evaluate.flags import Flag
from vlforge.evaluate.model.config import ModelBackendConfig, ModelConfigError
from vlforge.evaluate.model.score import SampleScore, aggregate_model_scores, score_model_on_samples
from vlforge.evaluate.origins import origins
from vlforge.evaluate.regression import compare_evaluations
from vlforge.evaluate.report import evaluation_report
from vlforge.evaluate.results import EvaluationRow
from vlforge.evaluate.shards import (
    EvaluationShard,
    plan_shards,
    read_arrays,
    read_plan,
    read_results,
    shard_samples,
    split_sample_ids,
    write_plan,
    write_shard_results,
)
from vlforge.evaluate.suggest import recipe_yaml, suggest
from vlforge.layout import DatasetReleases, EvaluationDir, ReleaseDir, checked_name
from vlforge.manifest import read_split_manifest
from vlforge.prepare import evaluate_problems
from vlforge.store import atomic_write_text

MODEL_EVALUATOR = "model"  # the model-side shards: the test split, planned once per backend as ``model.<backend>``
MODEL_SPLITS = ("test",)
# What an Airflow connection holds for an OpenAI-compatible backend: host (the base URL), password (the key), extra.
Connection = dict[str, Any]


def model_evaluator(backend: str) -> str:
    """The evaluator name (and folder) of one backend's model-side shards."""
    return f"{MODEL_EVALUATOR}.{backend}"


@dataclass(frozen=True)
class EvaluationRun:
    """One evaluation of one release.

    Attributes:
        home: ``VLFORGE_HOME``.
        dataset, version: the release.
        run: the evaluation folder's name (the Airflow run id made a folder name).
        recipe: the recipe whose ``evaluate`` section applies and which the suggestion is a diff of; ``""``
            takes the release's own recipe.
        backends: names of the model backends to evaluate (model-side evaluation).
    """

    home: Path
    dataset: str
    version: str
    run: str
    recipe: str = ""
    backends: tuple[str, ...] = ()

    @property
    def release(self) -> ReleaseDir:
        return DatasetReleases.of(self.home, self.dataset).version(self.version)

    @property
    def folder(self) -> EvaluationDir:
        return EvaluationDir.of(self.home, self.dataset, self.version, self.run)

    @cached_property
    def release_json(self) -> dict[str, Any]:
        return json.loads(self.release.release_json.read_text(encoding="utf-8"))

    @cached_property
    def recipe_config(self) -> Recipe:
        """``recipe`` when given, else the recipe the release was built with (``RELEASE.json``)."""
        return load_recipe(self.recipe) if self.recipe else Recipe.model_validate(self.release_json["recipe"])

    @property
    def settings(self) -> EvaluateConfig:
        return self.recipe_config.evaluate

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "home": str(self.home), "backends": list(self.backends)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EvaluationRun:
        return cls(**{**value, "home": Path(value["home"]), "backends": tuple(value.get("backends") or ())})


def prepare_evaluation(home: Path, dataset: str, version: str, run: str, recipe: str = "",
                       backends: tuple[str, ...] = ()) -> EvaluationRun:
    """Resolve the release (``version`` ``""``/``current``: the current one, ``latest``: the newest) and check the settings.

    Raises:
        FileNotFoundError: when the release folder does not exist, naming the versions that do.
        RecipeError: when ``recipe``'s ``evaluate`` section is invalid (naming the key).
    """
    for backend in backends:
        checked_name("evaluator", model_evaluator(backend))
    releases = DatasetReleases.of(home, dataset)
    if version in ("", "current"):
        resolved = releases.current.resolve().name if releases.current.is_symlink() else ""
    elif version == "latest":
        resolved = releases.latest_version() or ""
    else:
        resolved = version
    if not resolved or not releases.version(checked_name("version", resolved)).release_json.is_file():
        known = sorted(path.parent.name for path in releases.path.glob("*/RELEASE.json"))
        raise FileNotFoundError(f"{releases.path}: no release {version or 'current'!r} to evaluate; released versions: {known}")
    evaluation = EvaluationRun(Path(home), dataset, resolved, checked_name("run", run), recipe, tuple(backends))
    problems = evaluate_problems(evaluation.recipe_config)
    if problems:
        raise RecipeError("\n".join([f"recipe {recipe or 'of release ' + resolved} is invalid:", *problems]))
    return evaluation


def plan_evaluation(evaluation: EvaluationRun) -> dict[str, list[dict[str, Any]]]:
    """Every evaluator's shards, written to ``plan.json``: ``alignment`` (caption samples, when a CLIP model is
    configured), ``ocr_readability`` (OCR samples) and ``model.<backend>`` (the test split, per backend the run names)."""
    samples, _ = read_split_manifest(evaluation.release.manifest)
    size = evaluation.settings.shard_size
    clip = evaluation.settings.clip_model_path
    aligned = [sample.sample_id for sample in samples if clip and alignment.caption_text(sample) is not None]
    readable = [sample.sample_id for sample in samples if readability.readable(sample)]
    shards = {
        alignment.EVALUATOR: plan_shards(alignment.EVALUATOR, aligned, size),
        readability.EVALUATOR: plan_shards(readability.EVALUATOR, readable, size),
    }
    test_ids = split_sample_ids(evaluation.release, MODEL_SPLITS) if evaluation.backends else []
    for backend in evaluation.backends:
        shards[model_evaluator(backend)] = plan_shards(model_evaluator(backend), test_ids, size)
    return write_plan(evaluation.folder, shards)


def planned_shards(evaluation: EvaluationRun, evaluator: str) -> list[dict[str, Any]]:
    """One evaluator's shards from the run's ``plan.json`` (what its mapped task expands over); ``model``: every
    backend's model-side shards."""
    plan = read_plan(evaluation.folder)
    if evaluator == MODEL_EVALUATOR:
        return [shard.to_json() for backend in evaluation.backends for shard in plan.get(model_evaluator(backend), [])]
    return [shard.to_json() for shard in plan.get(evaluator, [])]


def align_shard(evaluation: EvaluationRun, shard: dict[str, Any]) -> dict[str, Any]:
    """Embed one alignment shard with the configured CLIP model."""
    from vlforge.synth.scenes.clip_score import ClipScorer

    settings = evaluation.settings
    if not settings.clip_model_path:
        raise ValueError(f"alignment shard {shard.get('name')!r} of {evaluation.folder.path}: evaluate.clip_model_path is unset")
    scorer = ClipScorer(settings.clip_model_path, settings.device, key="evaluate.clip_model_path")
    part = EvaluationShard.from_json(shard)
    return {"shard": part.name, "pairs": alignment.embed_shard(evaluation.release, evaluation.folder, part, scorer, settings.batch_size)}


def read_back_shard(evaluation: EvaluationRun, shard: dict[str, Any]) -> dict[str, Any]:
    """Read back one OCR shard with Tesseract."""
    from vlforge.synth.stage import tesseract_words

    part = EvaluationShard.from_json(shard)
    return {"shard": part.name, "samples": readability.read_shard(evaluation.release, evaluation.folder, part, tesseract_words)}


def model_backend(evaluation: EvaluationRun, backend: str, connection: Connection | None) -> ModelBackendConfig:
    """The backend named ``backend``: the Airflow connection of that name when there is one (an OpenAI-compatible
    endpoint), else the recipe's ``evaluate.models`` entry.

    Raises:
        ModelConfigError: when neither names it, listing the recipe's backends; or when the connection is invalid.
    """
    if connection is not None:
        return ModelBackendConfig.from_connection(connection["host"], connection.get("password"), connection.get("extra"), backend)
    models = evaluation.settings.models
    if backend not in models:
        raise ModelConfigError(
            f"backend {backend!r}: no Airflow connection of that name and no evaluate.models entry in the recipe "
            f"(its models: {sorted(models)})"
        )
    return models[backend]


def model_shard(evaluation: EvaluationRun, shard: dict[str, Any], backend: ModelBackendConfig) -> dict[str, Any]:
    """Ask ``backend`` one model-side shard's test prompts and score its answers (``model.<backend>`` results)."""
    part = EvaluationShard.from_json(shard)
    scores = score_model_on_samples(evaluation.release, shard_samples(evaluation.release, part), backend)
    write_shard_results(evaluation.folder, part, [score.to_json() for score in scores])
    return {"evaluator": part.evaluator, "shard": part.name, "samples": len(scores), "errors": sum(bool(score.error) for score in scores)}


@dataclass(frozen=True)
class EvaluationSummary:
    rows: int
    flags: list[str]
    regressions: list[str]
    suggestion: str | None
    report: str
    alert: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def merge_evaluation(
    evaluation: EvaluationRun, catalog: str | None = None, backends: dict[str, ModelBackendConfig] | None = None
) -> EvaluationSummary:
    """Aggregate every shard, store the rows in the catalog, flag ops, write the suggestion, compare, report.

    Args:
        evaluation: the run.
        catalog: the catalog's URL (``catalog.catalog_url``'s resolution is the caller's).
        backends: the run's model backends by name (``model_backend``), whose model names the rows carry.

    Returns:
        What was stored and flagged, and the alert text (``None`` when nothing fell or was flagged).
    """
    settings, folder, release = evaluation.settings, evaluation.folder, evaluation.release_json
    samples, _ = read_split_manifest(evaluation.release.manifest)
    found = origins(samples)
    plan = read_plan(folder)
    rows: list[EvaluationRow] = []
    flags: list[Flag] = []
    if plan.get(alignment.EVALUATOR):
        pairs = read_results(folder, alignment.EVALUATOR)
        images, texts = read_arrays(folder, alignment.EVALUATOR, "images"), read_arrays(folder, alignment.EVALUATOR, "texts")
        result = alignment.alignment_results(
            [str(pair["sample_id"]) for pair in pairs], images, texts, found,
            model=Path(str(settings.clip_model_path)).name, ks=settings.recall_ks, tolerance=settings.tolerance,
            min_pairs=settings.min_pairs, examples=settings.examples,
        )
        rows, flags = rows + result.rows, flags + result.flags
    if plan.get(readability.EVALUATOR):
        from vlforge.preannotate.tesseract import tesseract_version

        result = readability.readability_results(
            read_results(folder, readability.EVALUATOR), found, model=tesseract_version(), tolerance=settings.tolerance,
            min_pairs=settings.min_pairs, examples=settings.examples,
        )
        rows, flags = rows + result.rows, flags + result.flags
    for name, backend in (backends or {}).items():
        scores = [SampleScore.from_json(row) for row in read_results(folder, model_evaluator(name))]
        rows += aggregate_model_scores(scores, backend.model_name)
    as_json = [row.to_json() for row in rows]
    atomic_write_text(folder.results, json.dumps(as_json, indent=1, sort_keys=True, ensure_ascii=False))
    atomic_write_text(folder.flags, json.dumps([flag.to_json() for flag in flags], indent=1, sort_keys=True))
    recipe_text, recipe_name = recipe_source(evaluation)
    phase = ((release.get("counts") or {}).get("augment") or {}).get("phase")
    suggestion = suggest(recipe_text, recipe_name, flags, release["recipe"]).text(phase)
    if suggestion:
        atomic_write_text(folder.suggestion, suggestion)
    with open_catalog(catalog) as opened:
        opened.record_evaluation(evaluation.dataset, evaluation.version, evaluation.run, as_json)
        previous_version = opened.previous_evaluated(evaluation.dataset, evaluation.version)
        previous = (previous_version, opened.list_evaluations(evaluation.dataset, previous_version)) if previous_version else None
    comparison = compare_evaluations(evaluation.dataset, previous, (evaluation.version, as_json), settings.release_tolerance)
    atomic_write_text(folder.comparison, json.dumps(comparison.to_dict(), indent=1, sort_keys=True))
    atomic_write_text(folder.report, evaluation_report(release, as_json, flags, suggestion, comparison))
    alert_lines = []
    if comparison.has_regressions:
        alert_lines.append(comparison.summary())
    if flags:
        alert_lines.append(f"{evaluation.dataset} {evaluation.version}: {len(flags)} op(s) flagged by evaluation:")
        alert_lines += [f"  {flag.describe()}" for flag in flags]
    if suggestion:
        alert_lines.append(f"  recipe suggestion: {folder.suggestion}")
    return EvaluationSummary(
        rows=len(rows),
        flags=[flag.describe() for flag in flags],
        regressions=[change.describe() for change in comparison.regressions],
        suggestion=str(folder.suggestion) if suggestion else None,
        report=str(folder.report),
        alert="\n".join(alert_lines) if alert_lines else None,
    )


def recipe_source(evaluation: EvaluationRun) -> tuple[str, str]:
    """The recipe YAML the suggestion is a diff of, and its name.

    ``evaluation.recipe`` when given; else the named recipe in ``include/recipes`` when it still resolves to
    the release's recipe hash; else the release's frozen recipe written out as YAML (``RELEASE.json``).
    """
    if evaluation.recipe:
        path = recipe_path(evaluation.recipe)
        return path.read_text(encoding="utf-8"), str(path)
    frozen = evaluation.release_json["recipe"]
    try:
        path = recipe_path(str(frozen["name"]))
        if load_recipe(str(path)).content_hash() == evaluation.release_json.get("recipe_hash"):
            return path.read_text(encoding="utf-8"), str(path)
    except RecipeError:
        pass  # the release came from a recipe file elsewhere: its frozen copy below
    return recipe_yaml(frozen), f"{frozen['name']}.yaml"


def release_to_evaluate(dataset: str, version: str, event_extras: list[dict[str, Any]]) -> tuple[str, str]:
    """Which release a run evaluates: the Params when they name a dataset, else the newest release asset event's.

    Args:
        dataset, version: the DAG Params (``""`` when the run was started by an asset event).
        event_extras: the triggering asset events' extras, oldest first (``promotion.Decision.asset_extra``).

    Raises:
        ValueError: when neither the Params nor an event name a release.
    """
    if dataset:
        return dataset, version
    named = [extra for extra in event_extras if extra.get("dataset") and extra.get("version")]
    if not named:
        raise ValueError(f"no dataset in the Params and no release asset event naming one (events: {event_extras})")
    return str(named[-1]["dataset"]), str(named[-1]["version"])
