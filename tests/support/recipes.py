"""Recipes for tests, by path."""

from pathlib import Path

# The demo's splits without its synthesis, for release-path tests that need no browser.
DEMO_REAL_ONLY_RECIPE = str(Path(__file__).resolve().parents[1] / "data" / "recipes" / "demo_real_only.yaml")
# The demo recipe without degraded pages, whose release is the same on every CPU (vlforge.numerics).
DEMO_CLEAN_PAGES_RECIPE = str(Path(__file__).resolve().parents[1] / "data" / "recipes" / "demo_clean_pages.yaml")
# The demo without synthesis and with an over-strong OCR degradation: the evaluate DAG's planted fault.
DEMO_OVERSTRONG_OCR_RECIPE = str(Path(__file__).resolve().parents[1] / "data" / "recipes" / "demo_overstrong_ocr.yaml")
# Augment shards of 2 samples and compose shards of 6, no synthesis, no paraphrasing: the scale-out tests and bench.
SHARDED_RECIPE = str(Path(__file__).resolve().parents[1] / "data" / "recipes" / "sharded.yaml")
