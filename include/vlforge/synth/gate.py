"""The synth gate: its tables and GX suites, beside the stage they check.

Tables (from the shard manifests and check files):

- ``samples``: one row per synthetic sample (ids unique, all marked synthetic);
- ``boxes``: every box, OCR line box and action target (``tables.boxes_table``), inside its image;
- ``pages``: clean pages that became samples: glyph coverage and word integrity hold;
- ``difficulty``: degraded copies kept: Tesseract accuracy inside the recipe's range;
- ``actions``: GUI samples: every action was executed and verified in the browser;
- ``renders``: one row per distinct (image, rendered item): no two items rendered the same image.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import great_expectations as gx
import pandas as pd

from vlforge import expectations as ex
from vlforge.gates import run_gate
from vlforge.manifest import read_split_manifest
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.synth.config import SynthConfig
from vlforge.tables import boxes_table


def render_key(sample: Sample) -> str:
    """The rendered item a sample comes from: its generator, template and seed (``synth/<g>/<t>``, ``<seed>/...``)."""
    return f"{sample.source.file}#{sample.source.record_id.split('/', 1)[0]}"


def synth_tables(samples: list[Sample], checks: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The gate's tables from the stage's samples and the concatenated ``shard-*.checks.parquet``."""
    kept = {sample.sample_id for sample in samples}
    rows = checks[checks["sample_id"].isin(kept)]
    pages = rows[(rows["kind"] == "documents") & (rows["check"] == "clean")]
    renders = {(image.sha256, render_key(sample)) for sample in samples for image in sample.images}
    return {
        "samples": pd.DataFrame({"sample_id": [s.sample_id for s in samples], "synthetic": [s.synthetic for s in samples]}),
        "boxes": boxes_table(samples),
        "pages": pages[["sample_id", "glyphs_ok", "words_ok"]].astype({"glyphs_ok": bool, "words_ok": bool}),
        "difficulty": rows[(rows["kind"] == "documents") & (rows["check"] == "degraded")][["sample_id", "accuracy"]],
        "actions": rows[rows["kind"] == "gui"][["sample_id", "verified"]].astype({"verified": bool}),
        "renders": pd.DataFrame(sorted(renders), columns=["sha256", "render"]),
    }


def synth_suites(config: SynthConfig) -> dict[str, gx.ExpectationSuite]:
    """The synth gate's suites; thresholds from the recipe's ``synth`` section."""
    low, high = config.documents.degrade.accuracy_range
    return {
        "samples": gx.ExpectationSuite(name="synth.samples", expectations=[
            ex.ExpectUniqueSampleIds(column="sample_id", description="Synthetic sample ids are unique."),
            ex.ExpectMarkedSynthetic(column="synthetic", value_set=[True], description="Every sample is marked synthetic."),
        ]),
        "boxes": gx.ExpectationSuite(name="synth.boxes", expectations=ex.box_expectations()),
        "pages": gx.ExpectationSuite(name="synth.pages", expectations=[
            ex.ExpectGlyphsCovered(column="glyphs_ok", value_set=[True], description="No missing glyph on a kept page."),
            ex.ExpectWordsWhole(column="words_ok", value_set=[True], description="No split or cut word on a kept page."),
        ]),
        "difficulty": gx.ExpectationSuite(name="synth.difficulty", expectations=[
            ex.ExpectDifficultyInRange(column="accuracy", min_value=low, max_value=high,
                                    description=f"Degraded pages read at Tesseract accuracy in [{low}, {high}]."),
        ]),
        "actions": gx.ExpectationSuite(name="synth.actions", expectations=[
            ex.ExpectActionsVerified(column="verified", value_set=[True],
                                  description="Every GUI sample was executed and verified in Chromium."),
        ]),
        "renders": gx.ExpectationSuite(name="synth.renders", expectations=[
            ex.ExpectNoDuplicateRenders(column="sha256", description="No two rendered items gave the same image."),
        ]),
    }


def run_synth_gate(run: RunDescription) -> dict[str, Any]:
    """The gate after synthesis, over the run's synthetic samples and their check rows.

    Raises:
        GateFailed: naming each failed expectation.
    """
    run_dir = run.run_dir
    samples = read_split_manifest(run_dir.synthesized)[0]
    tables = synth_tables(samples, pd.read_parquet(run_dir.synth_checks))
    return asdict(run_gate("synth", tables, synth_suites(run.recipe.synth), run_dir))
