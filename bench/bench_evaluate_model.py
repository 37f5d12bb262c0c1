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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="5 samples per copy")
    parser.add_argument("--generation", choices=GENERATIONS, default="qwen2_5_vl", help="the tiny model's generation")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        release, samples = build_release(root, load_recipe("default"), copies=arguments.copies)
        model = build_tiny_qwen_vl(root / "tiny", arguments.generation)
        scorers = EncoderScorers(64)
        base = ModelBackendConfig(
            kind="transformers",
            generation=EVALUATED[arguments.generation],  # type: ignore[arg-type]
            model_path=str(model),
            max_new_tokens=arguments.max_new_tokens,
        )
        score_model_on_samples(release, samples[:5], base, scorers)  # warm-up: model and encoder loaded
        print(f"evaluate (local transformers, tiny {arguments.generation}, {len(samples)} samples, {arguments.max_new_tokens} new tokens)")
        for batch_size in arguments.batch_sizes:
            config = base.model_copy(update={"batch_size": batch_size})
            best = float("inf")
            for _ in range(arguments.repeat):
                started = time.perf_counter()
                scores = score_model_on_samples(release, samples, config, scorers)
                best = min(best, time.perf_counter() - started)
            errors = sum(score.error not in ("", "no readable answer") for score in scores)
            print(f"  batch {batch_size:>3}: {len(samples) / best:7.2f} samples/s ({best:.2f} s, {errors} errors)")


if __name__ == "__main__":
    main()
