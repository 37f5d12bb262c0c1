"""
### vlforge_release

Builds a versioned, quality-gated training-set release from annotated data.

1. **ingest**: read `source` (`source_format`) into the canonical manifest and the image store;
   unusable records go to the quarantine with a reason.
2. **gate_ingest**: the Great Expectations ingest suite (boxes inside images, positive areas,
   non-empty OCR text, known task types, unique ids, images in the store, quarantined share).
   A failure stops the run and no release is made.
3. **measure_agreement**: compare independent annotation rounds of each item (box IoU, OCR
   accuracy, GUI action completeness, BERTScore); items below the per-sample thresholds go to
   `review/` as Label Studio tasks and are left out of the release.
4. **gate_quality**: each task type's mean agreement must reach the recipe's thresholds.
5. **curate**: filters, visual-token budgets, dedup and train/val/test splits on the samples to release.
6. **plan_augment** / **augment** (one mapped task per shard) / **merge_augment**: the train split
   is augmented as the recipe's `augment` section says for the training `phase` (`warmup`: resize
   and crop only, `main`: every op, `finetune`: no copies); every copy records its parent, ops,
   drawn parameters and seed, so `vlforge replay <sample_id>` recreates it byte for byte.
7. **gate_augment**: boxes inside their images, no emptied conversations, left/right words that
   agree with the flips, each op's applied share near its probability, paraphrase BERTScore.
8. **release**: exports for every trainer format, Data Docs, report, `RELEASE.json` (metric means,
   counts per task type and split, synthetic share); the folder
   `$VLFORGE_HOME/releases/<dataset>/<version>` appears atomically.
9. **compare_and_promote**: the release is compared with the last released version of the dataset
   and recorded in the release catalog. A metric that fell by more than the recipe's
   `release.tolerance` holds it: `current` stays where it was and an alert goes out. Otherwise it
   becomes `current` (catalog flag and the `releases/<dataset>/current` symlink), an improvement is
   announced, and an asset event `vlforge://<dataset>` carries version, content hash and headline
   metrics to downstream DAGs. `force_promote` with `promoted_by` promotes a held release; the
   catalog records who.

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


def _settings() -> dict[str, Any]:
    """The run's Params plus the folders derived from them."""
    from pathlib import Path

    from vlforge.layout import run_folder_name, stage_dir, store_root

    context = get_current_context()
    params = dict(context["params"])
    home = Path(VLFORGE_HOME).resolve()
    params["home"] = home
    params["store"] = store_root(home)
    params["stage"] = stage_dir(home, params["dataset"], run_folder_name(context["run_id"]))
    return params


CATALOG_CONNECTION = "vlforge_catalog"


def _catalog_url(configured: str | None, home: Any) -> str:  # noqa: ANN401 - a Path
    """The recipe's catalog URL, else the Airflow connection ``vlforge_catalog``, else ``$VLFORGE_CATALOG_URL``,
    else SQLite beside the releases."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from vlforge.catalog import CATALOG_URL_ENV

    if configured:
        return configured
    try:
        uri = BaseHook.get_connection(CATALOG_CONNECTION).get_uri()
    except AirflowNotFoundException:
        return os.environ.get(CATALOG_URL_ENV) or f"sqlite:///{home / 'catalog.sqlite'}"
    # Airflow writes PostgreSQL connections as postgres://, a scheme SQLAlchemy no longer accepts.
    return "postgresql+psycopg2://" + uri.split("://", 1)[1] if uri.startswith(("postgres://", "postgresql://")) else uri


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
        "source": Param("", type="string", minLength=1, description="Export file or folder: a path or an fsspec URI."),
        "source_format": Param("label_studio", type="string", enum=SOURCE_FORMATS, description="Format of the source."),
        "images_root": Param(None, type=["null", "string"], description="Extra folder or URI to find images in."),
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
    @task
    def ingest() -> dict[str, Any]:
        from vlforge.config import load_recipe
        from vlforge.ingest import run_ingest

        settings = _settings()
        recipe = load_recipe(settings["recipe"])
        return run_ingest(
            settings["source"], settings["source_format"], recipe, settings["store"], settings["stage"], settings["images_root"]
        )

    @task(retries=0)
    def gate_ingest(ingested: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.quality.gates import run_ingest_gate

        settings = _settings()
        return run_ingest_gate(Path(ingested["stage"]), settings["store"], load_recipe(settings["recipe"]))

    @task
    def measure_agreement(ingested: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.quality.stage import run_agreement

        return run_agreement(Path(ingested["stage"]), load_recipe(_settings()["recipe"]))

    @task(retries=0)
    def gate_quality(ingested: dict[str, Any], agreement: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.quality.gates import run_quality_gate

        return run_quality_gate(Path(ingested["stage"]), load_recipe(_settings()["recipe"]))

    @task
    def curate(ingested: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.release import run_curate
        from vlforge.store import ImageStore

        settings = _settings()
        return run_curate(Path(ingested["stage"]), ImageStore(settings["store"]), load_recipe(settings["recipe"]), settings["seed"])

    @task
    def plan_augment(ingested: dict[str, Any], curated: dict[str, Any]) -> list[dict[str, Any]]:
        from pathlib import Path

        from vlforge.augment.stage import plan_shards
        from vlforge.config import load_recipe

        return plan_shards(Path(ingested["stage"]), load_recipe(_settings()["recipe"]).augment.shard_size)

    @task
    def augment(shard: dict[str, Any], ingested: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.augment.stage import augment_shard
        from vlforge.config import load_recipe

        settings = _settings()
        recipe = load_recipe(settings["recipe"])
        return augment_shard(Path(ingested["stage"]), shard, recipe, settings["phase"], settings["seed"], settings["store"])

    # A train split too small for one shard maps to no task instances: merging nothing is still a success.
    @task(trigger_rule="none_failed")
    def merge_augment(ingested: dict[str, Any], shards: list[dict[str, Any]]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.augment.stage import merge_augmented

        return merge_augmented(Path(ingested["stage"]))

    @task(retries=0)
    def gate_augment(ingested: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.quality.gates import run_augment_gate

        return run_augment_gate(Path(ingested["stage"]), load_recipe(_settings()["recipe"]))

    @task
    def release(ingested: dict[str, Any], gate: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from vlforge.config import load_recipe
        from vlforge.release import publish_release
        from vlforge.store import ImageStore

        settings = _settings()
        published = publish_release(
            Path(ingested["stage"]),
            settings["home"],
            settings["dataset"],
            load_recipe(settings["recipe"]),
            settings["seed"],
            ImageStore(settings["store"]),
            {key: settings[key] for key in ("source", "source_format", "images_root")},
        )
        print(f"release: {published['path']}\nreport:  {published['report']}")
        return {key: published[key] for key in ("version", "content_hash", "path", "report", "counts")}

    @task(outlets=[RELEASE_ALIAS])
    def compare_and_promote(published: dict[str, Any]):  # noqa: ANN201 - a generator task
        from vlforge.catalog import open_catalog
        from vlforge.config import load_recipe
        from vlforge.promotion import decide
        from vlforge.release import read_release
        from vlforge_notifiers import send_alert

        settings = _settings()
        recipe = load_recipe(settings["recipe"])
        context = get_current_context()
        forced_by = settings["promoted_by"] or getattr(context["dag_run"], "triggering_user_name", None)
        with open_catalog(_catalog_url(recipe.release.catalog_url, settings["home"])) as catalog:
            decision = decide(
                read_release(published["path"]), catalog, recipe.release.tolerance, settings["force_promote"], forced_by
            )
        message = decision.message()
        if message:
            print(message)
            send_alert(message, context)
        if decision.promoted_now:
            yield Metadata(Asset(f"vlforge://{decision.dataset}"), decision.asset_extra(), alias=RELEASE_ALIAS)
        return decision.to_dict()

    ingested = ingest()
    agreement = measure_agreement(ingested, gate_ingest(ingested))
    curated = curate(ingested, gate_quality(ingested, agreement))
    copies = augment.partial(ingested=ingested).expand(shard=plan_augment(ingested, curated))
    augmented = gate_augment(ingested, merge_augment(ingested, copies))
    compare_and_promote(release(ingested, augmented))


vlforge_release()
