"""
### vlforge_evaluate

Closed-loop evaluation of a published release: how well its images and texts still agree, how readable
its OCR samples are, and which augment ops or synthetic generators damage their copies. It reads the
release and writes the catalog and an evaluation folder
(`$VLFORGE_HOME/evaluations/<dataset>/<version>/<run>/`); the release itself never changes.

Scheduled on the release DAG's asset alias `vlforge_release`: every promoted release emits an asset
event `vlforge://<dataset>` through it, whatever the dataset, and this DAG evaluates the release the
event names (its `version`). Triggered by hand, the Params name the release.

1. **prepare**: resolve the release (Params, else the triggering asset event) and check the recipe's
   `evaluate` section.
2. **plan** (stable, balanced shards of `evaluate.shard_size` samples): `alignment` (caption samples,
   when `evaluate.clip_model_path` names a local CLIP model), `ocr_readability` (OCR samples) and `model`
   (the test split, for model-side evaluation with the `backends` Param); **alignment_shards** and
   **ocr_shards** hand each evaluator's shards to its mapped task.
3. **align** (one mapped task per shard): CLIP image and text embeddings.
   **read_back** (one mapped task per shard): Tesseract reads every OCR sample back.
4. **merge**: recall@1/5/10 both ways per origin (real, augmented, synthetic); each augment op's copies
   against their own parents (retrieval of the parent's caption; OCR accuracy and word F1); mean
   accuracy and F1 per degradation level; a flag for every op whose copies lose more than
   `evaluate.tolerance`; a recipe suggestion (a unified diff, never applied); the rows to the catalog
   (`vlforge_evaluations`), with each backend's scores per task type; the comparison with the previous evaluated release, alerting through
   `vlforge_slack` / `vlforge_smtp` when a metric fell beyond `evaluate.release_tolerance` or an op
   was flagged; an HTML report beside the results.

Trigger with Params, e.g.
`airflow dags test vlforge_evaluate -c '{"dataset": "demo", "version": "current"}'`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import AssetAlias, Param, dag, get_current_context, task
from vlforge_notifiers import release_failure_alert

VLFORGE_HOME = os.environ.get("VLFORGE_HOME", "data")
# The alias the release DAG emits every promoted release's asset event through (vlforge_release.RELEASE_ALIAS):
# scheduling on it follows every dataset's asset, including datasets released after this file was parsed.
RELEASE_ALIAS = AssetAlias("vlforge_release")
CATALOG_CONNECTION = "vlforge_catalog"
# A task that returns a dict says multiple_outputs=False: Airflow infers multiple outputs from a dict return
# annotation and then also pushes each key as an XCom of its own, ten more Execution API calls for a run
# description (0.15 s of every release task at 1,000 samples). Each such value goes on whole.
Evaluation = dict[str, Any]  # vlforge.evaluate.stage.EvaluationRun.to_json()


def backend_connections(names: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each backend's Airflow connection (host, password, extra), None where no connection has its name.

    Read inside the tasks that ask the model, so an API key never travels through XCom.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    found: dict[str, dict[str, Any] | None] = {}
    for name in names:
        try:
            connection = BaseHook.get_connection(name)
        except AirflowNotFoundException:
            found[name] = None
        else:
            found[name] = {"host": connection.host, "password": connection.password, "extra": connection.extra}
    return found


@dag(
    dag_id="vlforge_evaluate",
    schedule=[RELEASE_ALIAS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["vlforge", "evaluate"],
    default_args={
        "owner": "vlforge",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": release_failure_alert,
    },
    params={
        "dataset": Param(
            "", type="string", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            description="Dataset to evaluate; empty: the one the triggering release asset event names.",
        ),
        "version": Param("current", type="string", description="Release version, 'current' or 'latest'."),
        "recipe": Param("", type="string", description="Recipe whose evaluate section applies and which the suggestion diffs; empty: the release's."),
        "backends": Param([], type="array", items={"type": "string", "minLength": 1},
                          description="Model backends to evaluate on the test split (model-side evaluation)."),
    },
)
def vlforge_evaluate() -> None:
    @task(retries=0, multiple_outputs=False)
    def prepare() -> Evaluation:
        from vlforge.evaluate.stage import prepare_evaluation, release_to_evaluate
        from vlforge.layout import run_folder_name, vlforge_home

        context = get_current_context()
        params = context["params"]
        events = [event.extra for uri_events in (context.get("triggering_asset_events") or {}).values() for event in uri_events]
        dataset, version = release_to_evaluate(params["dataset"], params["version"], events)
        evaluation = prepare_evaluation(
            vlforge_home("evaluation", VLFORGE_HOME).resolve(), dataset, version, run_folder_name(context["run_id"]), params["recipe"], tuple(params["backends"])
        )
        return evaluation.to_json()

    @task(multiple_outputs=False)
    def plan(evaluation: Evaluation) -> Evaluation:
        from vlforge.evaluate.stage import EvaluationRun, plan_evaluation

        planned = plan_evaluation(EvaluationRun.from_json(evaluation))
        print({evaluator: len(shards) for evaluator, shards in planned.items()}, "shard(s) per evaluator")
        return evaluation

    # One per evaluator (Airflow maps only over a task's whole return value, not one key of it).
    @task
    def shards(evaluation: Evaluation, evaluator: str) -> list[dict[str, Any]]:
        from vlforge.evaluate.stage import EvaluationRun, planned_shards

        return planned_shards(EvaluationRun.from_json(evaluation), evaluator)

    @task(multiple_outputs=False)
    def align(shard: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
        from vlforge.evaluate.stage import EvaluationRun, align_shard

        return align_shard(EvaluationRun.from_json(evaluation), shard)

    @task(multiple_outputs=False)
    def read_back(shard: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
        from vlforge.evaluate.stage import EvaluationRun, read_back_shard

        return read_back_shard(EvaluationRun.from_json(evaluation), shard)

    @task(multiple_outputs=False)
    def ask_model(shard: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
        from vlforge.evaluate.stage import EvaluationRun, model_backend, model_shard

        run = EvaluationRun.from_json(evaluation)
        backend = shard["evaluator"].split(".", 1)[1]
        return model_shard(run, shard, model_backend(run, backend, backend_connections([backend])[backend]))

    # No caption or OCR samples map to no task instances: merging nothing is still a success.
    @task(trigger_rule="none_failed", multiple_outputs=False)
    def merge(evaluation: Evaluation, aligned: list[dict[str, Any]], read: list[dict[str, Any]], asked: list[dict[str, Any]]) -> dict[str, Any]:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
        from vlforge_notifiers import send_alert

        from vlforge.catalog import catalog_url
        from vlforge.evaluate.stage import EvaluationRun, merge_evaluation, model_backend

        run = EvaluationRun.from_json(evaluation)
        backends = {name: model_backend(run, name, connection) for name, connection in backend_connections(list(run.backends)).items()}
        try:
            connection_uri = BaseHook.get_connection(CATALOG_CONNECTION).get_uri()
        except AirflowNotFoundException:
            connection_uri = None
        url = catalog_url(run.recipe_config.release.catalog_url, connection_uri, run.home)
        summary = merge_evaluation(run, url, backends)
        print(f"{summary.rows} results; report: {summary.report}")
        if summary.alert:
            print(summary.alert)
            send_alert(summary.alert, get_current_context())
        return summary.to_json()

    planned = plan(prepare())
    aligned = align.partial(evaluation=planned).expand(shard=shards.override(task_id="alignment_shards")(planned, "alignment"))
    read = read_back.partial(evaluation=planned).expand(shard=shards.override(task_id="ocr_shards")(planned, "ocr_readability"))
    asked = ask_model.partial(evaluation=planned).expand(shard=shards.override(task_id="model_shards")(planned, "model"))
    merge(planned, aligned, read, asked)


vlforge_evaluate()
