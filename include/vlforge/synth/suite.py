"""The synth gate: its tables and GX suites, beside the stage they check.

Tables (from the shard manifests and check files):

- ``samples``: one row per synthetic sample (ids unique, all marked synthetic);
- ``boxes``: every box, OCR line box and action target (``quality.frames.boxes_frame``), inside its image;
- ``pages``: clean pages that became samples: glyph coverage and word integrity hold;
- ``difficulty``: degraded copies kept: Tesseract accuracy inside the recipe's range;
- ``actions``: GUI samples: every action was executed and verified in the browser;
- ``renders``: one row per distinct (image, rendered item): no two items rendered the same image.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from vlforge.quality import frames
from vlforge.quality.suites import box_expectations
from vlforge.records import Sample
from vlforge.synth.config import SynthConfig


class ExpectUniqueSyntheticIds(gxe.ExpectColumnValuesToBeUnique):
    """No two synthetic samples share an id."""


class ExpectMarkedSynthetic(gxe.ExpectColumnValuesToBeInSet):
    """Every sample of the stage carries ``synthetic = True``."""


class ExpectGlyphsCovered(gxe.ExpectColumnValuesToBeInSet):
    """Every character of a kept page is in a font that rendered it."""


class ExpectWordsWhole(gxe.ExpectColumnValuesToBeInSet):
    """No word of a kept page is split across lines or cut by its box."""


class ExpectDifficultyInRange(gxe.ExpectColumnValuesToBeBetween):
    """Tesseract's accuracy on every kept degraded page lies in the recipe's range."""


class ExpectActionsVerified(gxe.ExpectColumnValuesToBeInSet):
    """Every GUI sample's actions hit their elements and reached the expected state in Chromium."""


class ExpectNoDuplicateRenders(gxe.ExpectColumnValuesToBeUnique):
    """No image was rendered by two different items (same image, different seed or template)."""


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
        "boxes": frames.boxes_frame(samples),
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
            ExpectUniqueSyntheticIds(column="sample_id", description="Synthetic sample ids are unique."),
            ExpectMarkedSynthetic(column="synthetic", value_set=[True], description="Every sample is marked synthetic."),
        ]),
        "boxes": gx.ExpectationSuite(name="synth.boxes", expectations=box_expectations()),
        "pages": gx.ExpectationSuite(name="synth.pages", expectations=[
            ExpectGlyphsCovered(column="glyphs_ok", value_set=[True], description="No missing glyph on a kept page."),
            ExpectWordsWhole(column="words_ok", value_set=[True], description="No split or cut word on a kept page."),
        ]),
        "difficulty": gx.ExpectationSuite(name="synth.difficulty", expectations=[
            ExpectDifficultyInRange(column="accuracy", min_value=low, max_value=high,
                                    description=f"Degraded pages read at Tesseract accuracy in [{low}, {high}]."),
        ]),
        "actions": gx.ExpectationSuite(name="synth.actions", expectations=[
            ExpectActionsVerified(column="verified", value_set=[True],
                                  description="Every GUI sample was executed and verified in Chromium."),
        ]),
        "renders": gx.ExpectationSuite(name="synth.renders", expectations=[
            ExpectNoDuplicateRenders(column="sha256", description="No two rendered items gave the same image."),
        ]),
    }
