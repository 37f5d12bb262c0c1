"""
### vlforge_synthesize_scenes

Generated scenes for rare conditions ("pedestrians on a rainy street at night"), labelled by a
machine and reviewed by people before any of them is released.

0. **prepare**: validate the whole recipe and what scenes need (its `scenes.prompts`, a local
   diffusers Stable Diffusion folder `scenes.model_path`, a CLIP folder `scenes.clip_model_path`,
   the Qwen-VL folder `preannotate.vlm.model_path`), freeze it into the run folder.
1. **plan**: the prompts in shards of `scenes.prompts_per_shard`.
2. **render** (one mapped task per shard): `scenes.images_per_prompt` images per prompt, each from
   a seed drawn from the run's `seed`, the prompt and the image's number; stored in the
   content-addressed store; scored against its prompt by CLIP (cosine similarity) and dropped
   below `scenes.clip_threshold`, counted with the reason; captioned and boxed by the Qwen-VL model.
3. **write_review**: the survivors as one Label Studio import file,
   `$VLFORGE_HOME/runs/<dataset>/<run>/scenes/review_tasks.json`, with `label_config.xml` and the
   images (`images/`) beside it; each task's data carries the generator, prompt, seed and
   parameters (`vlforge_scene`). Announced on the asset `vlforge_scene_review`.

Import the file into a Label Studio project using `label_config.xml`, with
`LOCAL_FILES_SERVING_ENABLED=true`, `LOCAL_FILES_DOCUMENT_ROOT=<scenes folder>` and a Local Files
storage at `<scenes folder>/images`. A reviewer accepts a scene by marking an annotation of it
ground truth. The project's JSON export is a `label_studio` source for `vlforge_release`
(`images_root=<scenes folder>`): accepted scenes are released as synthetic samples with their
lineage; the others are quarantined with the reason, unless the release recipe sets
`scenes.allow_unreviewed`.

Trigger with Params, e.g.
`airflow dags test vlforge_synthesize_scenes -c '{"dataset": "street", "recipe": "/recipes/night_rain.yaml", "seed": 1}'`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Metadata, Param, dag, get_current_context, task

VLFORGE_HOME = os.environ.get("VLFORGE_HOME", "data")
SCENE_REVIEW = Asset("vlforge_scene_review")
# A task that returns a dict says multiple_outputs=False: Airflow infers multiple outputs from a dict return
# annotation and then also pushes each key as an XCom of its own, ten more Execution API calls for a run
# description (0.15 s of every release task at 1,000 samples). Each such value goes on whole.
Run = dict[str, Any]  # vlforge.run.RunDescription.to_json()


@dag(
    dag_id="vlforge_synthesize_scenes",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["vlforge", "synthesize"],
    default_args={"owner": "vlforge", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset": Param("demo", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="Dataset name."),
        "recipe": Param("default", type="string", description="Recipe name in include/recipes, or a YAML path (its scenes section)."),
        "seed": Param(0, type="integer", minimum=0, description="Seed every scene's diffusion seed is drawn from."),
    },
)
def vlforge_synthesize_scenes() -> None:
    # A recipe error or a missing model folder is not transient: retrying it only delays the message.
    @task(retries=0, multiple_outputs=False)
    def prepare() -> Run:
        from vlforge.layout import parse_home, run_folder_name
        from vlforge.prepare import prepare_run

        context = get_current_context()
        params = context["params"]
        home = parse_home(VLFORGE_HOME)  # an object store is refused by prepare_run: Label Studio serves local files
        run = prepare_run(home, params["dataset"], run_folder_name(context["run_id"]), params["recipe"], seed=params["seed"], scenes=True)
        return run.to_json()

    @task(retries=0)
    def plan(run: Run) -> list[dict[str, Any]]:
        from vlforge.run import RunDescription
        from vlforge.synth.scenes.stage import plan_scene_shards

        return plan_scene_shards(RunDescription.from_json(run))

    @task(multiple_outputs=False)
    def render(shard: dict[str, Any], run: Run) -> dict[str, Any]:
        from vlforge.run import RunDescription
        from vlforge.synth.scenes.stage import render_scene_shard

        return render_scene_shard(RunDescription.from_json(run), shard)

    @task(outlets=[SCENE_REVIEW])
    def write_review(run: Run, shards: list[dict[str, Any]]):  # noqa: ANN201 - a generator task
        from vlforge.run import RunDescription
        from vlforge.synth.scenes.stage import write_scene_review

        stats = write_scene_review(RunDescription.from_json(run))
        print(f"rendered {stats['rendered']} scene(s) in {len(list(shards))} shard(s), dropped {stats['dropped_by_reason']}")
        print(f"Label Studio import: {stats['review_file']}\nlabel config:        {stats['label_config']}")
        yield Metadata(SCENE_REVIEW, {key: stats[key] for key in ("review_file", "document_root", "rendered", "review_tasks", "dropped_by_reason")})
        return {key: value for key, value in stats.items() if key != "dropped"}

    described = prepare()
    write_review(described, render.partial(run=described).expand(shard=plan(described)))


vlforge_synthesize_scenes()
