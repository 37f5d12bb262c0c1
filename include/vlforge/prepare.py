"""The first task of a run: validate the whole recipe, freeze it into the run folder, describe the run.

Everything a recipe can get wrong fails here, in seconds and before ingest: unknown keys and bad
values (``config.load_recipe``), every augment op built from its parameters, which only the op
registry can check (an op's params model), and every local text encoder's folder and layer count;
for the scenes DAG, its prompts and model folders.
The error names the recipe file, the key and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from vlforge.augment.ops import REGISTRY
from vlforge.config import Recipe, RecipeError, load_recipe, recipe_path
from vlforge.layout import ObjectStoreUnsupported, is_object_store
from vlforge.run import RunDescription
from vlforge.synth.degrade import build_degradations
from vlforge.store import atomic_write_text


def prepare_run(
    home: Path | str,
    dataset: str,
    run: str,
    recipe: str | Recipe,
    *,
    source: str = "",
    source_format: str = "label_studio",
    images_root: str | list[str] | None = None,
    seed: int = 0,
    phase: str = "main",
    scenes: bool = False,
    dag_run: tuple[str, str] | None = None,
) -> RunDescription:
    """Validate ``recipe`` completely, freeze it as the run folder's ``recipe.json`` and describe the run.

    Args:
        home: ``VLFORGE_HOME``: a folder, or an object store's URI (``layout.parse_home``).
        dataset: the dataset name.
        run: the run folder's name.
        recipe: a recipe name or YAML path (loaded here), or a loaded ``Recipe``.
        source, source_format, images_root: what ingest reads.
        seed: the run's seed.
        phase: the augment phase.
        scenes: also check what generating scenes needs (prompts, the diffusers, CLIP and VLM folders).
        dag_run: the Airflow DAG id and run id, recorded in ``RELEASE.json`` (the dashboard links to the run).

    Returns:
        The run description every later task takes.

    Raises:
        RecipeError: naming the recipe file, the key and what is allowed there.
        ObjectStoreUnsupported: ``scenes`` with an object-store ``home``: Label Studio serves the scene
            review folder as local files.
    """
    if scenes and is_object_store(home):
        raise ObjectStoreUnsupported(
            f"VLFORGE_HOME={home} is an object store, but the scenes DAG writes a review folder that Label Studio "
            "serves as local files (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT): set VLFORGE_HOME to a local or mounted folder"
        )
    where = str(recipe_path(recipe)) if isinstance(recipe, str) else f"<recipe {recipe.name}>"
    resolved = load_recipe(recipe) if isinstance(recipe, str) else recipe
    problems = augment_problems(resolved) + encoder_problems(resolved) + synth_problems(resolved) + evaluate_problems(resolved)
    problems += scene_problems(resolved) if scenes else []
    if phase not in resolved.augment.phases:
        problems.append(f"  augment.phases: the run's phase {phase!r} is not defined; defined: {sorted(resolved.augment.phases)}")
    if problems:
        raise RecipeError("\n".join([f"recipe {where} is invalid:", *problems]))
    description = RunDescription(
        home=home if is_object_store(home) else Path(home),
        dataset=dataset,
        run=run,
        source=source,
        source_format=source_format,
        images_root=images_root,
        seed=seed,
        phase=phase,
        dag_id=dag_run[0] if dag_run else None,
        dag_run_id=dag_run[1] if dag_run else None,
    )
    frozen = json.dumps(resolved.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)
    with description.working() as working:
        atomic_write_text(working.run_dir.recipe, frozen)
    return description


def encoder_problems(recipe: Recipe) -> list[str]:
    """One line per text encoder whose ``model_path`` is no Hugging Face model folder or has fewer layers than asked."""
    problems = []
    for position, encoder in enumerate(recipe.quality.text_encoders):
        if encoder.model_path is None:
            continue
        where = f"  quality.text_encoders[{position}]"
        config = Path(encoder.model_path) / "config.json"
        if not config.is_file():
            problems.append(f"{where}.model_path = {encoder.model_path!r}: not a Hugging Face model folder (no config.json)")
            continue
        layers = json.loads(config.read_text(encoding="utf-8")).get("num_hidden_layers")
        if isinstance(layers, int) and encoder.num_layers > layers:
            problems.append(f"{where}.num_layers = {encoder.num_layers}: {encoder.model_path} has {layers} layers")
    return problems


def scene_problems(recipe: Recipe) -> list[str]:
    """One line per thing the scenes DAG lacks: prompts, or a local model folder of the kind each step loads."""
    settings = recipe.scenes
    problems = [] if settings.prompts else ["  scenes.prompts = []: name at least one scene to generate"]
    folders = (
        ("scenes.model_path", settings.model_path, "model_index.json", "a diffusers Stable Diffusion folder"),
        ("scenes.clip_model_path", settings.clip_model_path, "config.json", "a transformers CLIP folder"),
        ("preannotate.vlm.model_path", recipe.preannotate.vlm.model_path, "config.json", "a Qwen-VL folder that captions and boxes scenes"),
    )
    for key, folder, marker, kind in folders:
        if folder is None:
            problems.append(f"  {key} = None: the scenes DAG needs {kind}")
        elif not (Path(folder).expanduser() / marker).is_file():
            problems.append(f"  {key} = {folder!r}: not {kind} (no {marker})")
    return problems


def augment_problems(recipe: Recipe) -> list[str]:
    """One line per augment op in the recipe that cannot be built: unknown op, unknown key or bad value."""
    problems = []
    for position, spec in enumerate(recipe.augment.op_specs()):
        where = f"augment.ops[{position}].{spec.name}"
        op = REGISTRY.get(spec.name)
        if op is None:
            problems.append(f"  {where}: unknown op; known ops: {sorted(REGISTRY)}")
            continue
        try:
            op.Params.model_validate(spec.params)
        except ValidationError as error:
            allowed = sorted(["probability", "task_types", *op.Params.model_fields])
            for problem in error.errors():
                at = ".".join([where, *(str(part) for part in problem["loc"])])
                if problem["type"] == "extra_forbidden":
                    problems.append(f"  {at}: unknown key; allowed here: {allowed}")
                else:
                    problems.append(f"  {at} = {problem.get('input')!r}: {problem['msg']}")
    return problems


def synth_problems(recipe: Recipe) -> list[str]:
    """One line per degradation op of ``synth.documents.degrade.ops`` that cannot be built."""
    problems = []
    for position, entry in enumerate(recipe.synth.documents.degrade.ops):
        try:
            build_degradations([entry])
        except ValueError as error:
            problems.append(f"  synth.documents.degrade.ops[{position}]: {error}")
    return problems


def evaluate_problems(recipe: Recipe) -> list[str]:
    """One line when ``evaluate.clip_model_path`` names no transformers model folder (no ``config.json``)."""
    folder = recipe.evaluate.clip_model_path
    if folder is not None and not (Path(folder).expanduser() / "config.json").is_file():
        return [f"  evaluate.clip_model_path = {folder!r}: not a transformers CLIP folder (no config.json)"]
    return []
