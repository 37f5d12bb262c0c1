"""
### vlforge_release

Builds a versioned, quality-gated training-set release from annotated data.

0. **prepare**: validate the whole recipe (every augment op built from its parameters), freeze it
   into the run folder and describe the run; a typo in a recipe fails here, in seconds, naming the
   file, the key and the allowed values. Every later task takes this run description and reads the
   frozen recipe, so editing the YAML mid-run changes nothing.
1. **ingest**: read `source` (`source_format`) into the canonical manifest and the image store;
   unusable records go to the quarantine with a reason.
2. **gate_ingest**: the Great Expectations ingest suite (boxes inside images, positive areas,
   non-empty OCR text, known task types, unique ids, images in the store, quarantined share).
   A failure stops the run and no release is made.
3. **measure_agreement**: compare independent annotation rounds of each item (box IoU, OCR
   accuracy, GUI action completeness, BERTScore); items below the per-sample thresholds go to
   `review/` as Label Studio tasks and are left out of the release.
4. **gate_quality**: each task type's mean agreement must reach the recipe's thresholds.
5. **curate** / **gate_curate**: filters, visual-token budgets, dedup (a sample goes only as a copy of a
   kept one, in its media and its annotations) and train/val/test splits by whole groups; the gate
   fails when curation dropped more than `curate.max_drop_share` or a split is further than
   `curate.splits.tolerance` from the recipe, with the top reasons and the groups that decided it.
6. **plan_compose** / **compose** (one mapped task per shard) / **merge_compose**: samples composed from the curated train split (val and test stay real): QA turns of
   one image merged (multi-turn), caption, boxes, QA and OCR of one image together (multi-task),
   and 2-4 pictures with comparison questions answered from their boxes (multi-image, English and
   Chinese), within the recipe's image and token limits; with `compose.packing`, same-task train
   samples grouped into sequences of a token budget.
7. **plan_augment** / **augment** (one mapped task per shard) / **merge_augment**: the train split
   is augmented as the recipe's `augment` section says for the training `phase` (`warmup`: resize
   and crop only, `main`: every op, `finetune`: no copies); every copy records its parent, ops,
   drawn parameters and seed, so `vlforge replay <sample_id>` recreates it byte for byte.
8. **gate_augment**: boxes inside their images, no emptied conversations, left/right words that
   agree with the flips, each op's applied share near its probability, paraphrase BERTScore.
   Beside ingest, right after prepare: **plan_synth** / **synthesize** (one mapped task per shard,
   one headless Chromium each) / **merge_synth** / **gate_synth**: the recipe's `synth` section
   renders documents (with degraded copies and Tesseract read-back), PDF pages and GUI screens with
   verified actions; the synth gate checks boxes, glyphs, whole words, verified actions, the
   difficulty range and duplicate renders. Its samples join the release in `synth.split`.
9. **release**: exports for every trainer format, Data Docs, report, `RELEASE.json` (metric means,
   counts per task type and split, synthetic share); the folder
   `$VLFORGE_HOME/releases/<dataset>/<version>` appears atomically.
10. **compare_and_promote**: the release is compared with the last released version of the dataset
   and recorded in the release catalog. A metric that fell by more than the recipe's
   `release.tolerance` holds it: `current` stays where it was and an alert goes out. Otherwise it
   becomes `current` (catalog flag and the `releases/<dataset>/current` symlink), an improvement is
   announced, and an asset event `vlforge://<dataset>` carries version, content hash and headline
   metrics to downstream DAGs. `force_promote` with `promoted_by` promotes a held release; the
   catalog records who. If the catalog's database does not answer, the release stays published but
   unpromoted (`releases/<dataset>/<version>.unpromoted.json` says why), `current` is unchanged and
   the task fails; its retry, or a rerun of the DAG, promotes it.

`VLFORGE_HOME` may be an object store (`s3://bucket/prefix`, any fsspec URI; the endpoint from
`AWS_ENDPOINT_URL`): each task then works on a local copy of the run folder, opened by
`RunDescription.working()`, images go to the shared store as they are made, and a release appears
when its `RELEASE.json`, uploaded last, does; `current` is an object naming the version, and the
catalog needs a database URL (`VLFORGE_CATALOG_URL` or the `vlforge_catalog` connection). ADR 0012.

Alerts go through the Airflow connections `vlforge_slack` (Slack incoming webhook) and
`vlforge_smtp` (email); a missing connection is logged and skipped. Every task's failure,
gate failures included, alerts the same way (`on_failure_callback`).

Trigger with Params, e.g.
`airflow dags test vlforge_release -c '{"source": "/data/export.json", "source_format": "label_studio", "dataset": "shop_ocr"}'`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetAlias, Metadata, Param, dag, get_current_context, task
from vlforge_notifiers import release_failure_alert

VLFORGE_HOME = os.environ.get("VLFORGE_HOME", "data")
RELEASE_ALIAS = AssetAlias("vlforge_release")
SOURCE_FORMATS = ["label_studio", "coco", "yolo", "llamafactory", "qwen"]
CATALOG_CONNECTION = "vlforge_catalog"
# A task that returns a dict says multiple_outputs=False: Airflow infers multiple outputs from a dict return
# annotation and then also pushes each key as an XCom of its own, ten more Execution API calls for a run
# description (0.15 s of every release task at 1,000 samples). Each such value goes on whole.
Run = dict[str, Any]  # vlforge.run.RunDescription.to_json()


@dag(
    dag_id="vlforge_release",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["vlforge", "release"],
    default_args={
        "owner": "vlforge",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        # In the task's own process, with its exception: a gate's error lists every failure.
        "on_failure_callback": release_failure_alert,
    },
    params={
        "source": Param(
            "", type="string", minLength=1, description="Export file, or a folder of export files (or a YOLO folder): a path or an fsspec URI."
        ),
        "source_format": Param("label_studio", type="string", enum=SOURCE_FORMATS, description="Format of the source."),
        "images_root": Param(
            None,
            type=["null", "string", "array"],
            items={"type": "string", "minLength": 1},
            description="Extra folder or URI to find images in, or a list of them (tried in order).",
        ),
        "dataset": Param("demo", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="Dataset name."),
        "recipe": Param("default", type="string", description="Recipe name in include/recipes, or a YAML path."),
        "seed": Param(0, type="integer", minimum=0, description="Seed for every random choice of the run."),
        "phase": Param(
            "main", type="string", enum=["warmup", "main", "finetune"], description="Training phase: how hard to augment."
        ),
        "force_promote": Param(
            False, type="boolean", description="Promote the release to current even if it regressed (recorded in the catalog)."
        ),
        "promoted_by": Param(
            "", type="string", description="Who forces the promotion; defaults to the user who triggered the run."
        ),
    },
)
def vlforge_release() -> None:
    # A recipe error is not transient: retrying it only delays the message.
    @task(retries=0, multiple_outputs=False)
    def prepare() -> Run:
        from vlforge.layout import parse_home, run_folder_name
        from vlforge.prepare import prepare_run

        context = get_current_context()
        params = context["params"]
        run = prepare_run(
            parse_home(VLFORGE_HOME),
            params["dataset"],
            run_folder_name(context["run_id"]),
            params["recipe"],
            source=params["source"],
            source_format=params["source_format"],
            images_root=params["images_root"],
            seed=params["seed"],
            phase=params["phase"],
            dag_run=(context["dag"].dag_id, context["run_id"]),
        )
        return run.to_json()

    @task(multiple_outputs=False)
    def ingest(run: Run) -> Run:
        from vlforge.ingest import run_ingest
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            print(run_ingest(description))
        return run

    @task(retries=0, multiple_outputs=False)
    def gate_ingest(run: Run) -> Run:
        from vlforge.ingest.gate import run_ingest_gate
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            run_ingest_gate(description)
        return run

    @task(multiple_outputs=False)
    def measure_agreement(run: Run) -> Run:
        from vlforge.quality.stage import run_agreement
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            print(run_agreement(description))
        return run

    @task(retries=0, multiple_outputs=False)
    def gate_quality(run: Run) -> Run:
        from vlforge.quality.gate import run_quality_gate
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            run_quality_gate(description)
        return run

    @task(multiple_outputs=False)
    def curate(run: Run) -> Run:
        from vlforge.curate.stage import run_curate
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            print(run_curate(description))
        return run

    @task(retries=0, multiple_outputs=False)
    def gate_curate(run: Run) -> Run:
        from vlforge.curate.gate import run_curate_gate
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            run_curate_gate(description)
        return run

    @task
    def plan_compose(run: Run) -> list[dict[str, Any]]:
        from vlforge.run import RunDescription
        from vlforge.synth.compose.stage import plan_compose as plan

        with RunDescription.from_json(run).working() as description:
            return plan(description)

    @task(multiple_outputs=False)
    def compose(shard: dict[str, Any], run: Run) -> dict[str, Any]:
        from vlforge.run import RunDescription
        from vlforge.synth.compose.stage import compose_shard

        with RunDescription.from_json(run).working() as description:
            return compose_shard(description, shard)

    # Nothing to compose maps to no task instances: merging nothing is still a success.
    @task(trigger_rule="none_failed", multiple_outputs=False)
    def merge_compose(run: Run, shards: list[dict[str, Any]]) -> Run:
        from vlforge.run import RunDescription
        from vlforge.synth.compose.stage import merge_composed

        with RunDescription.from_json(run).working() as description:
            stats = merge_composed(description)
        print(f"merged {len(list(shards))} shard(s): {stats['composed']} composed samples, {stats['by_rule']}")
        return run

    @task
    def plan_augment(run: Run) -> list[dict[str, Any]]:
        from vlforge.augment.stage import plan_shards
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            return plan_shards(description)

    @task(multiple_outputs=False)
    def augment(shard: dict[str, Any], run: Run) -> dict[str, Any]:
        from vlforge.augment.stage import augment_shard
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            return augment_shard(description, shard)

    # A train split too small for one shard maps to no task instances: merging nothing is still a success.
    @task(trigger_rule="none_failed", multiple_outputs=False)
    def merge_augment(run: Run, shards: list[dict[str, Any]]) -> Run:
        from vlforge.augment.stage import merge_augmented
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            stats = merge_augmented(description)
        print(f"merged {len(list(shards))} shard(s): {stats['augmented']} copies of {stats['parents']} parents")
        return run

    @task(retries=0, multiple_outputs=False)
    def gate_augment(run: Run) -> Run:
        from vlforge.augment.gate import run_augment_gate
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            run_augment_gate(description)
        return run

    @task
    def plan_synth(run: Run) -> list[dict[str, Any]]:
        from vlforge.run import RunDescription
        from vlforge.synth.stage import plan_synth

        with RunDescription.from_json(run).working() as description:
            return plan_synth(description)

    @task(multiple_outputs=False)
    def synthesize(shard: dict[str, Any], run: Run) -> dict[str, Any]:
        from vlforge.run import RunDescription
        from vlforge.synth.stage import synthesize_shard

        with RunDescription.from_json(run).working() as description:
            return synthesize_shard(description, shard)

    # A recipe without synthesis maps to no shards: merging nothing still writes an empty manifest.
    @task(trigger_rule="none_failed", multiple_outputs=False)
    def merge_synth(run: Run, shards: list[dict[str, Any]]) -> Run:
        from vlforge.run import RunDescription
        from vlforge.synth.stage import merge_synthesized

        with RunDescription.from_json(run).working() as description:
            stats = merge_synthesized(description)
        print(f"merged {len(list(shards))} synth shard(s): {stats['samples']} samples, {stats['quarantined']} quarantined")
        return run

    @task(retries=0, multiple_outputs=False)
    def gate_synth(run: Run) -> Run:
        from vlforge.run import RunDescription
        from vlforge.synth.gate import run_synth_gate

        with RunDescription.from_json(run).working() as description:
            run_synth_gate(description)
        return run

    @task(multiple_outputs=False)
    def release(run: Run, synthesized: Run) -> dict[str, Any]:
        # Both branches of the run meet here: the gated real samples and the gated synthetic ones.
        from vlforge.release import publish_release
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            published = publish_release(description)
        print(f"release: {published['path']}\nreport:  {published['report']}")
        return {key: published[key] for key in ("version", "content_hash", "path", "report", "counts")}

    @task(outlets=[RELEASE_ALIAS])
    def compare_and_promote(run: Run, published: dict[str, Any]):  # noqa: ANN201 - a generator task
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
        from vlforge_notifiers import send_alert

        from vlforge.catalog import catalog_url
        from vlforge.promotion import promote_published
        from vlforge.release import read_release
        from vlforge.run import RunDescription

        with RunDescription.from_json(run).working() as description:
            settings = description.recipe.release
        context = get_current_context()
        params = context["params"]
        try:
            connection_uri = BaseHook.get_connection(CATALOG_CONNECTION).get_uri()
        except AirflowNotFoundException:
            connection_uri = None
        url = catalog_url(settings.catalog_url, connection_uri, description.home)
        forced_by = params["promoted_by"] or getattr(context["dag_run"], "triggering_user_name", None)
        decision = promote_published(
            read_release(published["path"]), url, settings.tolerance, params["force_promote"], forced_by
        )
        message = decision.message()
        if message:
            print(message)
            send_alert(message, context)
        if decision.promoted_now:
            yield Metadata(Asset(f"vlforge://{decision.dataset}"), decision.asset_extra(), alias=RELEASE_ALIAS)
        return decision.to_dict()

    prepared = prepare()
    gated = gate_curate(curate(gate_quality(measure_agreement(gate_ingest(ingest(prepared))))))
    curated = merge_compose(gated, compose.partial(run=gated).expand(shard=plan_compose(gated)))
    shards = augment.partial(run=curated).expand(shard=plan_augment(curated))
    augmented = gate_augment(merge_augment(curated, shards))
    synth_shards = synthesize.partial(run=prepared).expand(shard=plan_synth(prepared))
    synthesized = gate_synth(merge_synth(prepared, synth_shards))
    compare_and_promote(augmented, release(augmented, synthesized))


vlforge_release()
