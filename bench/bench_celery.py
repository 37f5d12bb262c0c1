"""Benchmark: wall time of a ``vlforge_release`` run per 1,000 samples on the CeleryExecutor, with 1 and 2 workers.

The cluster is the Celery scale-out test's (``tests/support/celery_cluster.py``): PostgreSQL and Redis on
127.0.0.1, api-server, scheduler, dag-processor and ``--workers`` Celery workers (``--concurrency`` task
slots each) as local processes. The input is ``--samples`` generated COCO images (128x96, one box each,
``tests/support/coco_shards.py``); the recipe is the test's (``tests/data/recipes/sharded.yaml``: no
synthesis, no paraphrasing) with ``--shard-size`` samples per augment and compose shard. The time is
from the REST API trigger to the run's success, start-up of the cluster excluded, and is given per
1,000 samples with the speed-up over one worker. On a machine with fewer free cores than
workers x concurrency the workers only share the same cores: the speed-up measures the machine too.

Run::

    PYTHONPATH=include .venv/bin/python bench/bench_celery.py --samples 200 --workers 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.celery_cluster import CeleryCluster, unavailable_reason  # noqa: E402 - tests/ on the path first
from support.coco_shards import write_coco_dataset  # noqa: E402
from support.recipes import SHARDED_RECIPE  # noqa: E402


def timed_release(root: Path, workers: int, concurrency: int, source: Path, recipe: Path) -> tuple[float, int, str]:
    """One run on a fresh cluster of ``workers`` workers.

    Returns:
        Seconds from trigger to success, the number of mapped shard task instances, and the release's content hash.
    """
    with CeleryCluster(root, workers=workers, concurrency=concurrency) as cluster:
        started = time.perf_counter()
        run_id = cluster.trigger({"source": str(source), "source_format": "coco", "dataset": "bench", "recipe": str(recipe)})
        state = cluster.wait(run_id, timeout=3600)
        seconds = time.perf_counter() - started
        if state != "success":
            raise RuntimeError(f"run {run_id} ended {state}\n{cluster.tails()}")
        shards = sum(ti["task_id"] in ("compose", "augment") for ti in cluster.task_instances(run_id))
        releases = cluster.vlforge_home / "releases" / "bench"
        version = (releases / "LATEST").read_text(encoding="utf-8").strip()
    return seconds, shards, version


def measure(samples: int, workers: list[int], concurrency: int, shard_size: int) -> list[dict[str, Any]]:
    """One release of ``samples`` generated COCO images per worker count, each on a fresh cluster."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_celery_") as temporary:
        root = Path(temporary)
        source = write_coco_dataset(root / "coco", samples, seed=0)
        recipe = root / "recipe.yaml"
        sections = yaml.safe_load(Path(SHARDED_RECIPE).read_text(encoding="utf-8"))
        sections["compose"]["shard_size"] = sections["augment"]["shard_size"] = shard_size
        recipe.write_text(yaml.safe_dump(sections), encoding="utf-8")
        for count in workers:
            seconds, shards, version = timed_release(root / f"w{count}", count, concurrency, source, recipe)
            rows.append({"workers": count, "shards": shards, "seconds": seconds, "per_thousand_s": seconds * 1000 / samples, "version": version})
    return rows


def run(quick: bool) -> dict[str, Any]:
    """The harness entry (``bench/run.py``): wall time per 1,000 samples with 1 and 2 Celery workers."""
    reason = unavailable_reason()
    if reason:
        return {"figures": [], "aims": [], "notes": [f"skipped: {reason}"]}
    samples = 40 if quick else 200
    rows = measure(samples, [1, 2], 1, 10)
    figures = [{"label": f"release with {row['workers']} Celery worker(s), per 1,000 samples", "value": row["per_thousand_s"], "unit": "s"}
               for row in rows]  # fmt: skip
    figures.append({"label": "2 workers vs 1, speed-up", "value": rows[0]["seconds"] / rows[1]["seconds"], "unit": "x"})
    same = len({row["version"] for row in rows}) == 1
    notes = [f"{samples} COCO samples (128x96), shards of 10, one slot per worker; releases {'identical' if same else 'DIFFER'}"]
    return {"figures": figures, "aims": [], "notes": notes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=1, help="task slots per worker")
    parser.add_argument("--shard-size", type=int, default=10, help="samples per augment and compose shard")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bench_celery skipped: {reason}")
        return 0
    print(f"{args.samples} samples (COCO, 128x96), shards of {args.shard_size}, {args.concurrency} slot(s) per worker")
    print(f"{'workers':>7} {'shards':>6} {'wall s':>8} {'s per 1,000 samples':>20} {'speed-up':>8}  release")
    rows = measure(args.samples, args.workers, args.concurrency, args.shard_size)
    for row in rows:
        speed_up = rows[0]["seconds"] / row["seconds"]
        print(f"{row['workers']:>7} {row['shards']:>6} {row['seconds']:>8.1f} {row['per_thousand_s']:>20.0f} {speed_up:>7.2f}x  {row['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
