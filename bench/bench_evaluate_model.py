"""Model-side evaluation throughput of the local transformers backend: samples per second.

Builds a tiny random Qwen-VL model offline (``tests/support/tiny_qwen_vl.py``) and a generated release of
``--copies`` x 5 test samples (grounding, OCR, GUI action, caption, VQA; ``tests/support/eval_release.py``),
then times ``score_model_on_samples`` over all of them, once per ``--batch-sizes`` value: reading the
prompts from the export, generating ``--max-new-tokens`` tokens greedily, reading the answers and
scoring them (BERTScore for the captions and answers). A warm-up pass loads the model and the BERTScore
encoder before any clock starts; each timing keeps the best of ``--repeat`` runs (the machine is shared).

The tiny model is a stand-in for plumbing cost: a real 3B-7B model spends far more time per token, so
read these numbers as vlforge's overhead around generation, not as a model's speed.

Run::

    PYTHONPATH=include HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_evaluate_model.py --copies 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.eval_release import build_release
from support.tiny_qwen_vl import GENERATIONS, build_tiny_qwen_vl

from vlforge.config import load_recipe
from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.score import score_model_on_samples
from vlforge.quality.metrics.bertscore import EncoderScorers

# tiny model generation -> the evaluated generation whose export and convention it answers in
EVALUATED = {"qwen2_vl": "qwen_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl"}


def measure(copies: int, generation: str, batch_sizes: list[int], max_new_tokens: int, repeat: int) -> dict[str, Any]:
    """Samples/s (best of ``repeat``) and errors of ``score_model_on_samples`` per batch size over a generated release."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        release, samples = build_release(root, load_recipe("default"), copies=copies)
        model = build_tiny_qwen_vl(root / "tiny", generation)
        scorers = EncoderScorers(64)
        base = ModelBackendConfig(
            kind="transformers",
            generation=EVALUATED[generation],  # type: ignore[arg-type]
            model_path=str(model),
            max_new_tokens=max_new_tokens,
        )
        score_model_on_samples(release, samples[:5], base, scorers)  # warm-up: model and encoder loaded
        per_batch = {}
        for batch_size in batch_sizes:
            config = base.model_copy(update={"batch_size": batch_size})
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                scores = score_model_on_samples(release, samples, config, scorers)
                best = min(best, time.perf_counter() - started)
            errors = sum(score.error not in ("", "no readable answer") for score in scores)
            per_batch[batch_size] = {"samples_per_s": len(samples) / best, "seconds": best, "errors": errors}
    return {"samples": len(samples), "per_batch": per_batch}


def run(quick: bool) -> dict[str, Any]:
    """The harness entry (``bench/run.py``): the local backend's samples/s at batch 1 and 8 (tiny Qwen2.5-VL)."""
    m = measure(2 if quick else 8, "qwen2_5_vl", [1, 8], 16, 1 if quick else 2)
    figures = [
        {"label": f"model-side evaluation, local backend, batch {size}", "value": batch["samples_per_s"], "unit": "samples/s"}
        for size, batch in m["per_batch"].items()
    ]
    notes = [f"{m['samples']} samples, a tiny random Qwen2.5-VL, 16 new tokens: vlforge's cost around generation, not a model's speed"]
    return {"figures": figures, "aims": [], "notes": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="5 samples per copy")
    parser.add_argument("--generation", choices=GENERATIONS, default="qwen2_5_vl", help="the tiny model's generation")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()
    m = measure(arguments.copies, arguments.generation, arguments.batch_sizes, arguments.max_new_tokens, arguments.repeat)
    print(f"evaluate (local transformers, tiny {arguments.generation}, {m['samples']} samples, {arguments.max_new_tokens} new tokens)")
    for batch_size, batch in m["per_batch"].items():
        print(f"  batch {batch_size:>3}: {batch['samples_per_s']:7.2f} samples/s ({batch['seconds']:.2f} s, {batch['errors']} errors)")


if __name__ == "__main__":
    main()
