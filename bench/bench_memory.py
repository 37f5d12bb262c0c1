"""Benchmark: peak memory (RSS) of each release stage at two dataset sizes, to show it stays flat.

A Label Studio JSON export of ``N`` tasks is generated over twelve real photographs and scans from
scikit-image's wheel, each downscaled to at most ``PHOTO_SIDE`` (128) pixels a side in its own format
(each task: one annotation with two to four boxes and a caption of random made-up
words, drawn from a seeded generator, so no two samples are duplicates). A run is prepared with the
default recipe, changed only where a synthetic set needs it: compose off, curate's split tolerance
accepted and drop limit lifted (every sample of one picture is in one split group, so twelve groups
cannot meet 90/5/5), paraphrasing off (its BERTScore model is a fixed cost, not a per-sample one).
The photos are downscaled because the Parquet and WebDataset exports embed every sample's image bytes:
at full size (about 200 KB each) 100,000 samples would write about 40 GB; at 128 pixels (about 12 KB
each) both exports together write about 2.5 GB, and a run at 10,000 and 100,000 samples stays under 5 GB
of disk. The release stage's memory does not depend on the images' size beyond one row group of them.

Each stage then runs as the DAG runs it, each in a fresh Python process, whose own peak resident
set size (``VmHWM`` in ``/proc/self/status``, after the stage) is that stage's figure. Not ``ru_maxrss``:
a child forked from a large process (``bench/run.py`` after the model entries) inherits its peak there.

- ingest, gate_ingest, measure_agreement, gate_quality, curate, gate_curate;
- augment: plan_augment and one mapped ``augment`` task, shard 0, ``main`` phase: its size is the
  recipe's ``augment.shard_size`` whatever ``N`` is (the DAG maps one task per shard);
- merge_augment: every shard in the ``finetune`` phase (no copies: copying ``N`` images is the
  augment bench's business) and the merge;
- gate_augment, release (every export format, the report and ``RELEASE.json``).

With ``--keep``, ``--rerun STAGE`` measures one stage again over the runs kept there by an earlier full
run (for ``release``, their releases are removed first), for instance after changing that stage's code.

The table gives each stage's peak RSS in MiB at each size and the ratio of the largest to the
smallest; the aim is each ratio under 1.2 from 10,000 to 100,000 samples.

Run::

    PYTHONPATH=include .venv/bin/python bench/bench_memory.py --samples 10000 100000 --keep /tmp/mem
    PYTHONPATH=include .venv/bin/python bench/bench_memory.py --samples 10000 100000 --keep /tmp/mem --rerun release
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "horse.png", "moon.png", "page.png", "rocket.jpg", "text.png",
)  # fmt: skip
LABELS = ("person", "cat", "cup", "rocket", "coin", "text", "horse", "face", "sign", "tree")
# Caption words: 3,000 made-up words of two to four syllables (a fixed list, the same every run), so that
# captions differ in their character n-grams as real ones do and dedup's candidate pairs stay few.
SYLLABLES = [consonant + vowel for consonant in "bdfgklmnprstvz" for vowel in "aeiou"]
WORDS = tuple("".join(random.Random(index).choices(SYLLABLES, k=2 + index % 3)) for index in range(3000))
PHOTO_SIDE = 128
RUN_JSON = "bench_run.json"  # the prepared run's JSON, kept beside it for ``--rerun``
STAGES = (
    "ingest", "gate_ingest", "measure_agreement", "gate_quality", "curate", "gate_curate",
    "augment", "merge_augment", "gate_augment", "release",
)  # fmt: skip
RECIPE_YAML = """\
curate:
  max_drop_share: 1.0
  splits: {train: 0.9, val: 0.05, test: 0.05, tolerance: 0.02, accept_off_target: true}
compose:
  multi_turn: {enabled: false}
  multi_task: {enabled: false}
  multi_image: {enabled: false}
augment:
  paraphrase: {enabled: false}
"""


def write_export(path: Path, samples: int, sizes: dict[str, tuple[int, int]], seed: int) -> None:
    """A Label Studio JSON export of ``samples`` tasks over the photos in ``sizes`` (name -> width, height), written row by row."""
    rng = random.Random(seed)
    names = sorted(sizes)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[\n")
        for index in range(samples):
            name = names[index % len(names)]
            width, height = sizes[name]
            results: list[dict[str, Any]] = []
            for box in range(rng.randint(2, 4)):
                x, y = rng.uniform(0, 60), rng.uniform(0, 60)
                value = {"x": x, "y": y, "width": rng.uniform(5, 40), "height": rng.uniform(5, 40), "rotation": 0,
                         "rectanglelabels": [rng.choice(LABELS)]}  # fmt: skip
                results.append({"id": f"r{index}-{box}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                                "original_width": width, "original_height": height, "value": value})  # fmt: skip
            caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 20))).capitalize() + "."
            results.append({"id": f"c{index}", "type": "textarea", "from_name": "caption", "to_name": "image",
                            "value": {"text": [caption]}})  # fmt: skip
            task = {"id": index + 1, "project": 1, "data": {"image": f"/data/local-files/?d=images/{name}"},
                    "annotations": [{"id": 1_000_000 + index, "completed_by": 1, "result": results}]}  # fmt: skip
            handle.write(("" if index == 0 else ",\n") + json.dumps(task))
        handle.write("\n]\n")


def prepare(home: Path, samples: int, seed: int) -> dict[str, Any]:
    """The photos, the export and the prepared run under ``home``; returns the run's JSON."""
    from importlib import resources

    from PIL import Image

    from vlforge.prepare import prepare_run

    images = home / "source" / "images"
    images.mkdir(parents=True)
    sizes = {}
    for name in PHOTOS:
        with resources.as_file(resources.files("skimage") / "data" / name) as photo, Image.open(photo) as image:
            small = image.copy()
            small.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
            small.save(images / name, format=image.format)
            sizes[name] = small.size
    export = home / "source" / "export.json"
    write_export(export, samples, sizes, seed)
    recipe = home / "bench_recipe.yaml"
    recipe.write_text(RECIPE_YAML, encoding="utf-8")
    run = prepare_run(
        home, "bench", "run1", str(recipe), source=str(export), source_format="label_studio", seed=seed, phase="main"
    )
    (home / RUN_JSON).write_text(json.dumps(run.to_json()), encoding="utf-8")
    return run.to_json()


# The stages that run as one call of a stage function on the run, as their DAG tasks do: module, function.
STAGE_FUNCTIONS = {
    "ingest": ("vlforge.ingest", "run_ingest"),
    "gate_ingest": ("vlforge.ingest.gate", "run_ingest_gate"),
    "measure_agreement": ("vlforge.quality.stage", "run_agreement"),
    "gate_quality": ("vlforge.quality.gate", "run_quality_gate"),
    "curate": ("vlforge.curate.stage", "run_curate"),
    "gate_curate": ("vlforge.curate.gate", "run_curate_gate"),
    "gate_augment": ("vlforge.augment.gate", "run_augment_gate"),
}


def run_stage(stage: str, run_json: dict[str, Any]) -> dict[str, Any]:
    """Run one stage in this process as the DAG's task does; returns its result, JSON-able."""
    from dataclasses import replace
    from importlib import import_module

    from vlforge.run import RunDescription

    run = RunDescription.from_json(run_json)
    if stage in STAGE_FUNCTIONS:
        module, function = STAGE_FUNCTIONS[stage]
        return getattr(import_module(module), function)(run)
    if stage == "augment":
        from vlforge.augment.stage import augment_shard, plan_shards

        return augment_shard(run, plan_shards(run)[0])
    if stage == "merge_augment":
        from vlforge.augment.stage import augment_shard, merge_augmented, plan_shards

        finetune = replace(run, phase="finetune")
        for shard in plan_shards(finetune):
            augment_shard(finetune, shard)
        return merge_augmented(finetune)
    if stage == "release":
        from vlforge.release import publish_release

        published = publish_release(run)
        return {key: published[key] for key in ("version", "content_hash")}
    raise ValueError(f"unknown stage {stage!r}; known: {list(STAGES)}")


def peak_rss_kib() -> int:
    """This process's peak resident set size since it started its program (``VmHWM``), in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def measure(stage: str, run_json: dict[str, Any], log: Path) -> dict[str, float]:
    """Run ``stage`` in a fresh interpreter; returns its peak RSS (MiB) and seconds."""
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as errors:
        done = subprocess.run(
            [sys.executable, __file__, "--stage", stage, "--run", json.dumps(run_json)],
            stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, "TQDM_DISABLE": "1"}, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} failed (exit {done.returncode}); its log: {log}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"peak_rss_mib": figures["peak_rss_kib"] / 1024, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000], help="dataset sizes (default 10000 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--until", choices=STAGES, default=STAGES[-1], help="the last stage to run (default: release)")
    parser.add_argument("--keep", type=Path, default=None, help="build the runs under this folder and keep them")
    parser.add_argument("--rerun", choices=STAGES, help="with --keep: measure only this stage again over the kept runs")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage:  # the child: one stage, then its own peak RSS on stdout
        result = run_stage(args.stage, json.loads(args.run))
        print(json.dumps(result, default=str), file=sys.stderr)
        print(json.dumps({"peak_rss_kib": peak_rss_kib()}))
        return {}

    if args.rerun and not args.keep:
        parser.error("--rerun needs --keep: the folder of the runs to measure again")
    stages = (args.rerun,) if args.rerun else STAGES[: STAGES.index(args.until) + 1]
    figures: dict[str, dict[str, dict[str, float]]] = {stage: {} for stage in stages}
    with tempfile.TemporaryDirectory(prefix="bench_memory.") as temp:
        root = args.keep or Path(temp)
        for samples in args.samples:
            home = root / f"n{samples}"
            if args.rerun:
                run_json = json.loads((home / RUN_JSON).read_text(encoding="utf-8"))
                if args.rerun == "release":  # else the stage finds its release there and returns at once
                    shutil.rmtree(home / "releases", ignore_errors=True)
            else:
                shutil.rmtree(home, ignore_errors=True)
                run_json = prepare(home, samples, args.seed)
            for stage in stages:
                figures[stage][str(samples)] = measure(stage, run_json, root / f"n{samples}.log")
                print(f"  {samples} samples, {stage}: {figures[stage][str(samples)]['peak_rss_mib']:.0f} MiB, "
                      f"{figures[stage][str(samples)]['seconds']:.0f} s", file=sys.stderr)  # fmt: skip

    sizes = [str(samples) for samples in args.samples]
    print("peak RSS per stage (MiB), each stage in a fresh process; augment is one shard of the recipe's shard_size")
    print(f"{'stage':<20}" + "".join(f"{size + ' samples':>16}" for size in sizes) + f"{'ratio':>8}")
    ratios = {}
    for stage in stages:
        peaks = [figures[stage][size]["peak_rss_mib"] for size in sizes]
        ratios[stage] = max(peaks) / min(peaks)
        print(f"{stage:<20}" + "".join(f"{peak:>16.0f}" for peak in peaks) + f"{ratios[stage]:>7.2f}x")
    print(f"largest ratio {max(ratios.values()):.2f}x (aim: under 1.20x)")
    return {"samples": args.samples, "stages": figures, "ratios": ratios}


def run(quick: bool) -> dict[str, Any]:
    """The harness entry (``bench/run.py``): peak RSS per stage at 10k and 100k samples, and its ratio (aim < 1.2x).

    The full run goes up to the release (about 5 GB of disk with the downscaled photos); the quick one up to curate.
    """
    sizes, until = (["1000", "4000"], "curate") if quick else (["10000", "100000"], "release")
    measured = main(["--samples", *sizes, "--until", until])
    figures = [
        {"label": f"{stage} peak RSS at {size} samples", "value": measured["stages"][stage][size]["peak_rss_mib"], "unit": "MiB"}
        for stage in measured["stages"] for size in sizes
    ]  # fmt: skip
    aims = [{"label": f"{stage} peak RSS, {sizes[1]} vs {sizes[0]} samples", "value": ratio, "op": "<", "target": 1.2}
            for stage, ratio in measured["ratios"].items()]  # fmt: skip
    return {
        "figures": figures,
        "aims": aims,
        "notes": ["each stage in a fresh process; augment is one shard of the recipe's shard_size"],
    }


if __name__ == "__main__":
    main()
    sys.exit(0)
