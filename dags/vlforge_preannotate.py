"""
### vlforge_preannotate

Machine pre-annotation of unlabelled images, as a Label Studio import file with `predictions`
that annotators correct instead of drawing from scratch.

1. **list_images**: the image files under `images_dir`, in shards of the recipe's `shard_size`.
2. **preannotate** (one mapped task per shard): Tesseract OCR lines (`languages`, e.g. `eng` and
   `chi_sim`) as box + transcription pairs; with `vlm_model_path`, a local Qwen2-VL /
   Qwen2.5-VL / Qwen3-VL model adds boxes (rectanglelabels) and a caption.
3. **emit**: merges the shards into `output` (default
   `$VLFORGE_HOME/preannotate/<run>/tasks.json`) with `label_config.xml` beside it, and announces
   it on the asset `vlforge_preannotations`.

Import the file into a Label Studio project using `label_config.xml`, with
`LOCAL_FILES_SERVING_ENABLED=true` and `LOCAL_FILES_DOCUMENT_ROOT=<images_dir>`. The export of
that project is a `label_studio` source for `vlforge_release` (with `images_root=<images_dir>`).

Trigger with Params, e.g.
`make run DAG=vlforge_preannotate CONF='{"images_dir": "/data/unlabelled", "vlm_model_path": "/models/Qwen2.5-VL-3B-Instruct"}'`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Metadata, Param, dag, get_current_context, task

VLFORGE_HOME = os.environ.get("VLFORGE_HOME", "data")
PREANNOTATIONS = Asset("vlforge_preannotations")


def _settings() -> dict[str, Any]:
    """The run's Params, its work folder and its ``preannotate`` config with the Params applied."""
    from pathlib import Path

    from vlforge.config import load_recipe
    from vlforge.layout import run_folder_name, vlforge_home
    from vlforge.preannotate.config import with_params

    context = get_current_context()
    params = dict(context["params"])
    home = vlforge_home("the preannotate DAG (a Label Studio import file with local image paths)", VLFORGE_HOME)
    work = home / "preannotate" / run_folder_name(context["run_id"])
    params["work"] = work
    params["output"] = Path(params["output"]) if params["output"] else work / "tasks.json"
    params["config"] = with_params(load_recipe(params["recipe"]).preannotate, params["languages"], params["vlm_model_path"])
    return params


@dag(
    dag_id="vlforge_preannotate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["vlforge", "preannotate"],
    default_args={"owner": "vlforge", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "images_dir": Param("", type="string", minLength=1, description="Folder of unlabelled images (searched recursively)."),
        "output": Param(None, type=["null", "string"], description="Import file to write; default under $VLFORGE_HOME/preannotate/<run>."),
        "languages": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": r"^[A-Za-z_]+$"},
            minItems=1,
            description="Tesseract languages, e.g. [\"eng\", \"chi_sim\"]; default: the recipe's.",
        ),
        "vlm_model_path": Param(None, type=["null", "string"], description="Local Qwen-VL model folder; default: the recipe's (none: OCR only)."),
        "recipe": Param("default", type="string", description="Recipe name in include/recipes, or a YAML path."),
    },
)
def vlforge_preannotate() -> None:
    # Listing is deterministic: a missing or empty folder does not fill itself in 30 seconds.
    @task(retries=0)
    def list_images() -> list[dict[str, Any]]:
        from vlforge.preannotate.tasks import list_image_shards

        settings = _settings()
        return list_image_shards(settings["images_dir"], settings["config"].shard_size)

    # One XCom for the shard's counts, not one more per key (Airflow infers multiple outputs from a dict annotation).
    @task(multiple_outputs=False)
    def preannotate(shard: dict[str, Any]) -> dict[str, Any]:
        from vlforge.preannotate.tasks import preannotate_shard

        settings = _settings()
        shard_file = settings["work"] / "shards" / f"shard-{shard['index']:05d}.json"
        return preannotate_shard(settings["images_dir"], shard["files"], shard_file, settings["config"])

    @task(outlets=[PREANNOTATIONS])
    def emit(shards: list[dict[str, Any]]):  # noqa: ANN201 - a generator task
        from vlforge.preannotate.tasks import merge_shards

        settings = _settings()
        counts = merge_shards(sorted(shard["shard_file"] for shard in shards), settings["output"])
        print(f"Label Studio import: {counts['output']}\nlabel config:        {counts['label_config']}")
        yield Metadata(PREANNOTATIONS, {key: counts[key] for key in ("output", "images", "tasks", "ocr_lines", "boxes", "captions")})
        return counts

    emit(preannotate.expand(shard=list_images()))


vlforge_preannotate()
