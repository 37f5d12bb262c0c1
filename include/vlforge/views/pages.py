"""What each page shows of one release or a list of releases, computed from release rows and folders.

A release row is a catalog row (``vlforge.catalog``) or ``release_row`` of a
``RELEASE.json``, so the dashboard and the static report show the same things.
Each function returns plain data for one page (the templates lay it out);
``FolderDamage`` from one release becomes a message on that release's item, so
the rest of the page still shows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vlforge.compare import Comparison, compare_releases, release_metrics, synthetic_share
from vlforge.config import QualityConfig, ReleaseConfig
from vlforge.curate.tokens import resize_rule, visual_tokens
from vlforge.quality.agreement import METRICS
from vlforge.records import Sample
from vlforge.views.release_folder import KINDS, FolderDamage, ReleaseFolder, SampleIndex, reason_group, source_file
from vlforge.views.thumbnails import ensure_thumbnails

EXAMPLES_PER_REASON = 3
GALLERY_PAGE = 24
LIST_PAGE = 50


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page

    def slice(self, items: list[Any]) -> list[Any]:
        return items[self.start : self.start + self.per_page]


def pager(page: int, per_page: int, total: int) -> Pager:
    """Page ``page`` (1-based, clamped to the pages there are) of ``total`` items."""
    pages = max(1, math.ceil(total / per_page))
    return Pager(min(max(1, page), pages), per_page, total)


def status_label(row: dict[str, Any]) -> str:
    """``current``, ``held``, ``superseded`` (promoted once, no longer current) or ``released``."""
    if row.get("current"):
        return "current"
    return {"promoted": "superseded"}.get(str(row.get("status")), str(row.get("status")))


def promoted_by(row: dict[str, Any]) -> str:
    if row.get("forced_by"):
        return f"{row['forced_by']} (forced: {row.get('force_reason') or 'no reason given'})"
    return "vlforge (no regression)" if row.get("promoted_at") else "-"


# ---------------------------------------------------------------- trends


@dataclass
class Series:
    """One line of a trend chart: a value per release (``None`` where not measured)."""

    name: str
    values: list[float | None]
    regressed: list[bool] = field(default_factory=list)


@dataclass
class Trend:
    """One chart: a metric (or a family of shares) across the dataset's releases."""

    key: str
    title: str
    series: list[Series]
    threshold: list[float | None]  # per release, from its own recipe
    threshold_kind: str = "min"  # "min": the value must reach it; "max": must stay below it


@dataclass
class Trends:
    dataset: str
    versions: list[str]
    statuses: list[str]
    created: list[str]
    trends: list[Trend]
    messages: dict[str, str]  # version -> damage


def trends_from(dataset: str, rows: list[dict[str, Any]]) -> Trends:
    """Each metric across ``rows`` (catalog rows or ``release_row``s, oldest first), with thresholds and regressions.

    A release's regressions are those ``vlforge.compare`` finds against the newest earlier release that is
    not held (what promotion compared it with), with the tolerances of the release's own recipe.
    """
    folders = [ReleaseFolder(row["path"]) for row in rows]
    recipes, messages = [], {}
    for row, folder in zip(rows, folders, strict=True):
        try:
            recipes.append(folder.recipe())
        except FolderDamage as damage:
            recipes.append(None)
            messages[row["version"]] = str(damage)
    comparisons = _comparisons(rows, recipes)
    flat = [release_metrics(row) for row in rows]

    def metric_series(name: str) -> Series:
        return Series(name, [values.get(name) for values in flat], [name in {c.name for c in comparison.regressions} for comparison in comparisons])

    trends = []
    for metric in METRICS:
        task_names = sorted({name for values in flat for name in values if name.startswith("by_task_type.") and name.endswith("." + metric)})
        series = [metric_series(metric), *(metric_series(name) for name in task_names)]
        series = [line for line in series if any(value is not None for value in line.values)]
        if series:
            thresholds = [getattr(recipe.quality.dataset, metric) if recipe else None for recipe in recipes]
            trends.append(Trend(metric, metric.replace("_", " "), series, thresholds))
    counts = [row.get("counts") or {} for row in rows]
    trends.append(
        Trend(
            "quarantine_share",
            "quarantine share",
            [Series("quarantine_share", [_share(count.get("quarantine_share")) for count in counts])],
            [recipe.ingest.max_quarantine_share if recipe else None for recipe in recipes],
            "max",
        )
    )
    trends.append(
        Trend(
            "shares",
            "dedup and synthetic share",
            [
                Series("dedup_share", [_dedup_share(folder, count) for folder, count in zip(folders, counts, strict=True)]),
                Series("synthetic_share", [synthetic_share(row) for row in rows]),
            ],
            [None] * len(rows),
        )
    )
    tokens = _visual_tokens(folders, recipes)
    if tokens:
        trends.append(Trend("visual_tokens", "visual tokens per sample", tokens, [None] * len(rows)))
    ops = sorted({op for count in counts for op in ((count.get("augment") or {}).get("ops") or {})})
    if ops:
        trends.append(
            Trend(
                "augment_ops",
                "augment op shares (applied / eligible)",
                [Series(op, [_share((((count.get("augment") or {}).get("ops") or {}).get(op) or {}).get("share")) for count in counts]) for op in ops],
                [None] * len(rows),
            )
        )
    for trend in trends:
        for line in trend.series:
            line.regressed = line.regressed or [False] * len(rows)
    return Trends(dataset, [row["version"] for row in rows], [status_label(row) for row in rows], [str(row["created_at"]) for row in rows], trends, messages)


def _comparisons(rows: list[dict[str, Any]], recipes: list[Any]) -> list[Comparison]:
    comparisons = []
    for position, (row, recipe) in enumerate(zip(rows, recipes, strict=True)):
        previous = next((earlier for earlier in reversed(rows[:position]) if earlier["status"] != "held"), None)
        tolerance = (recipe.release if recipe else ReleaseConfig()).tolerance
        comparisons.append(compare_releases(previous, row, tolerance))
    return comparisons


def _share(value: Any) -> float | None:
    return None if value is None else float(value)


def _dedup_share(folder: ReleaseFolder, counts: dict[str, Any]) -> float | None:
    """The share of curated samples that deduplication dropped (drops of the ``dedup`` stage)."""
    samples_in = (counts.get("curate") or {}).get("samples_in")
    try:
        drops = folder.curate_drops()
    except FolderDamage:
        return None
    return sum(drop.get("stage") == "dedup" for drop in drops) / samples_in if samples_in else None


def _visual_tokens(folders: list[ReleaseFolder], recipes: list[Any]) -> list[Series]:
    """Mean visual tokens per sample for each model of the recipes' token budgets, from the manifests' image sizes."""
    models = sorted({model for recipe in recipes if recipe for model in recipe.curate.token_budgets})
    lines = []
    for model in models:
        values: list[float | None] = []
        for folder, recipe in zip(folders, recipes, strict=True):
            budget = recipe.curate.token_budgets.get(model) if recipe else None
            values.append(_mean_tokens(folder, model, budget))
        lines.append(Series(model, values))
    return lines


def _mean_tokens(folder: ReleaseFolder, model: str, budget: Any) -> float | None:
    """Over the samples with images; the images column is read a batch at a time, so a release of any size costs the same."""
    rule = resize_rule(model, budget)
    total, samples = 0, 0
    try:
        for batch in folder.manifest_batches(["images"]):
            for row in batch.column("images").to_pylist():
                if row:
                    total += sum(visual_tokens(image["width"], image["height"], rule) for image in row)
                    samples += 1
    except FolderDamage:
        return None
    return total / samples if samples else None


# ---------------------------------------------------------------- release detail


def release_row(release: dict[str, Any]) -> dict[str, Any]:
    """``RELEASE.json`` content (with ``path``) in the catalog row's shape, for pages drawn before it is recorded."""
    counts = release.get("counts") or {}
    return {
        **{key: release.get(key) for key in ("dataset", "version", "content_hash", "parent_version", "created_at", "seed", "path")},
        "status": "released",
        "current": False,
        "samples": counts.get("samples"),
        "counts": counts | {"by_task_type": counts.get("by_task_type") or {}, "by_split": counts.get("by_split") or {}},
        "synthetic_share": synthetic_share(release),
        "metrics": release.get("metrics") or {},
        "gates": release.get("gates") or [],
        "promoted_at": None,
        "forced_by": None,
        "force_reason": None,
    }


def release_detail(row: dict[str, Any], drops_page: int = 1) -> dict[str, Any]:
    """One release: counts, every gate's expectations, curation drops by reason, quarantine reasons with examples."""
    folder = ReleaseFolder(row["path"])
    detail: dict[str, Any] = {"row": row, "status": status_label(row), "promoted_by": promoted_by(row), "messages": {}}
    for key, read in (
        ("release", folder.release),
        ("gates", folder.gates),
        ("quarantine", lambda: _by_reason(folder.quarantine(), lambda entry: reason_group(str(entry.get("reason", "?"))))),
        ("drops", folder.curate_drops),
        ("review_tasks", folder.review_tasks),
    ):
        try:
            detail[key] = read()
        except FolderDamage as damage:
            detail[key] = None
            detail["messages"][key] = str(damage)
    drops = detail["drops"] or []
    detail["drop_reasons"] = Counter(str(drop.get("reason", "?")) for drop in drops).most_common()
    detail["drops_pager"] = pager(drops_page, LIST_PAGE, len(drops))
    detail["drops"] = detail["drops_pager"].slice(drops)
    detail["dag_run"] = ((detail["release"] or {}).get("source") or {}).get("dag_run")
    return detail


def _by_reason(entries: list[dict[str, Any]], key: Any) -> list[dict[str, Any]]:
    """Entries grouped by reason, most frequent first, each with its count and a few examples."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(key(entry), []).append(entry)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{"reason": reason, "count": len(items), "examples": items[:EXAMPLES_PER_REASON]} for reason, items in ordered]


# ---------------------------------------------------------------- gallery


@dataclass(frozen=True)
class GalleryFilters:
    task_type: str = ""
    split: str = ""
    source: str = ""
    kind: str = ""
    failing: str = ""  # a metric: only samples below its per-sample threshold
    lowest: str = ""  # a metric: lowest first
    sample: str = ""  # one sample id (a parent link)

    def query(self) -> dict[str, str]:
        return {key: value for key, value in self.__dict__.items() if value}


@dataclass(frozen=True)
class GalleryItem:
    sample: Sample
    split: str
    kind: str
    metrics: dict[str, float]
    failing: list[str]
    parents: list[str]
    ops: list[tuple[str, str]]
    message: str  # why there is no thumbnail


def gallery(folder: ReleaseFolder, filters: GalleryFilters, page: int = 1, per_page: int = GALLERY_PAGE) -> dict[str, Any]:
    """One page of the release's samples, filtered, with thumbnails drawn (and cached) for that page.

    Raises:
        FolderDamage: when the manifest cannot be read.
    """
    index = folder.index()
    quality = _quality(folder)
    if filters.failing and filters.failing not in METRICS:
        raise FolderDamage(f"unknown metric {filters.failing!r}; metrics: {', '.join(METRICS)}")
    below = _below_threshold(index, quality)
    selected = [
        position
        for position in range(len(index))
        if (not filters.task_type or index.task_types[position] == filters.task_type)
        and (not filters.split or index.splits[position] == filters.split)
        and (not filters.source or index.sources[position] == filters.source)
        and (not filters.kind or index.kinds[position] == filters.kind)
        and (not filters.sample or index.sample_ids[position] == filters.sample)
        and (not filters.failing or below(position, filters.failing))
    ]
    if filters.lowest in METRICS:
        values = index.metrics[filters.lowest]
        selected.sort(key=lambda position: (values[position] is None, values[position] or 0.0, position))
    paging = pager(page, per_page, len(selected))
    options = {"task_type": set(index.task_types), "split": set(index.splits), "source": set(index.sources)}
    return _gallery_page(gallery_items(folder, index, paging.slice(selected)), paging, filters, options, len(index))


def _gallery_page(
    items: list[GalleryItem], paging: Pager, filters: GalleryFilters, options: dict[str, set[str]], total: int
) -> dict[str, Any]:
    return {
        "items": items,
        "pager": paging,
        "filters": filters,
        "options": {**{name: sorted(values) for name, values in options.items()}, "kind": list(KINDS), "metric": list(METRICS)},
        "total": total,
    }


def first_gallery_page(folder: ReleaseFolder) -> dict[str, Any]:
    """The gallery's first page with no filter (what the report shows and the dashboard opens on), as ``gallery`` gives it.

    Read without the whole sample index, which grows with the release: the first page's rows, then the
    filter options and the count from three columns a batch at a time.
    """
    first = folder.first_rows(GALLERY_PAGE)
    options: dict[str, set[str]] = {"task_type": set(), "split": set(), "source": set()}
    total = 0
    for batch in folder.manifest_batches(["task_type", "split", "source"]):
        options["task_type"] |= {str(value) for value in batch.column("task_type").to_pylist()}
        options["split"] |= {str(value) for value in batch.column("split").to_pylist()}
        options["source"] |= {source_file(source) for source in batch.column("source").to_pylist()}
        total += batch.num_rows
    paging = pager(1, GALLERY_PAGE, total)
    items = gallery_items(folder, first, paging.slice(list(range(len(first)))))
    return _gallery_page(items, paging, GalleryFilters(), options, total)


def gallery_items(folder: ReleaseFolder, index: SampleIndex, positions: list[int]) -> list[GalleryItem]:
    """The samples at ``positions`` with their thumbnails drawn (or why not), lineage and metrics."""
    samples = index.samples(positions)
    failed = ensure_thumbnails(folder, samples)
    below = _below_threshold(index, _quality(folder))
    items = []
    for position, sample in zip(positions, samples, strict=True):
        measured = {name: value for name in METRICS if (value := index.metrics[name][position]) is not None}
        lineage = [(entry.op, entry.params_json) for entry in sample.lineage]
        items.append(
            GalleryItem(
                sample=sample,
                split=index.splits[position],
                kind=index.kinds[position],
                metrics=measured,
                failing=[name for name in measured if below(position, name)],
                parents=[str(json.loads(params).get("sample_id", "?")) for op, params in lineage if op == "parent"],
                ops=[(op, params) for op, params in lineage if op != "parent"],
                message=failed.get(sample.sample_id, ""),
            )
        )
    return items


def _quality(folder: ReleaseFolder) -> QualityConfig | None:
    try:
        return folder.recipe().quality
    except FolderDamage:
        return None


def _below_threshold(index: SampleIndex, quality: QualityConfig | None) -> Callable[[int, str], bool]:
    """Whether the sample at a position is below the recipe's per-sample threshold of a metric (for its task type).

    A metric without one never fails here: BERTScore's thresholds are per text encoder by default, and
    the encoder that scored an item is in ``agreement.parquet``, not in the manifest.
    """

    def below(position: int, metric: str) -> bool:
        value = index.metrics[metric][position]
        threshold = None if quality is None else getattr(quality.thresholds("per_sample", index.task_types[position]), metric)
        return value is not None and threshold is not None and value < threshold

    return below


# ---------------------------------------------------------------- diff


ASPECTS = ("image", "boxes", "text")


def diff(new_row: dict[str, Any], old_row: dict[str, Any] | None, show: str = "changed", page: int = 1) -> dict[str, Any]:
    """A release against another (its parent by default): samples added, removed, changed, and metric deltas per task type.

    Raises:
        FolderDamage: when either manifest cannot be read.
    """
    result: dict[str, Any] = {"new": new_row, "old": old_row, "show": show}
    if old_row is None:
        result |= {"counts": None, "items": [], "pager": pager(1, LIST_PAGE, 0), "deltas": {}}
        return result
    new_folder, old_folder = ReleaseFolder(new_row["path"]), ReleaseFolder(old_row["path"])
    new_index, old_index = new_folder.index(), old_folder.index()
    new_prints, old_prints = new_folder.fingerprints(), old_folder.fingerprints()
    added = [sid for sid in new_index.sample_ids if sid not in old_index.positions]
    removed = [sid for sid in old_index.sample_ids if sid not in new_index.positions]
    changed = []
    for sid in new_index.sample_ids:
        old_position = old_index.positions.get(sid)
        if old_position is not None:
            new_print, old_print = new_prints[new_index.positions[sid]], old_prints[old_position]
            aspects = [aspect for aspect in ASPECTS if new_print[aspect] != old_print[aspect]]
            if aspects:
                changed.append((sid, aspects))
    lists = {"added": [(sid, []) for sid in added], "removed": [(sid, []) for sid in removed], "changed": changed}
    chosen = lists.get(show, changed)
    paging = pager(page, GALLERY_PAGE, len(chosen))
    shown = paging.slice(chosen)
    new_samples = {s.sample_id: s for s in new_index.samples([new_index.positions[sid] for sid, _ in shown if sid in new_index.positions])}
    old_samples = {s.sample_id: s for s in old_index.samples([old_index.positions[sid] for sid, _ in shown if sid in old_index.positions])}
    new_failed = ensure_thumbnails(new_folder, list(new_samples.values()))
    old_failed = ensure_thumbnails(old_folder, list(old_samples.values()))
    items = [
        {
            "sample_id": sid,
            "aspects": aspects,
            "new": new_samples.get(sid),
            "old": old_samples.get(sid),
            "new_message": new_failed.get(sid, ""),
            "old_message": old_failed.get(sid, ""),
        }
        for sid, aspects in shown
    ]
    try:
        tolerance = new_folder.recipe().release.tolerance
    except FolderDamage:
        tolerance = ReleaseConfig().tolerance
    comparison = compare_releases(old_row, new_row, tolerance)
    result |= {
        "counts": {
            "added": len(added),
            "removed": len(removed),
            "changed": len(changed),
            "by_aspect": {aspect: sum(aspect in aspects for _, aspects in changed) for aspect in ASPECTS},
        },
        "items": items,
        "pager": paging,
        "deltas": metric_deltas(comparison),
        "counts_by_task_type": comparison.counts_by_task_type,
    }
    return result


def metric_deltas(comparison: Comparison) -> dict[str, list[Any]]:
    """The comparison's metric changes grouped by task type (``all`` for the dataset means)."""
    grouped: dict[str, list[Any]] = {}
    for name, change in comparison.metrics.items():
        if change.old is None and change.new is None:
            continue
        parts = name.split(".")
        task_type = parts[1] if len(parts) == 3 and parts[0] == "by_task_type" else "all"
        grouped.setdefault(task_type, []).append((parts[-1], change))
    return dict(sorted(grouped.items(), key=lambda item: (item[0] != "all", item[0])))


# ---------------------------------------------------------------- review queue


def review_queue(folder: ReleaseFolder, page: int = 1) -> dict[str, Any]:
    """The items sent back to annotators, with the metrics that fell below their thresholds.

    Raises:
        FolderDamage: when the review file cannot be read.
    """
    tasks = folder.review_tasks()
    paging = pager(page, LIST_PAGE, len(tasks))
    items = []
    for task in paging.slice(tasks):
        data = task.get("data") or {}
        image = str(data.get("image", ""))
        items.append(
            {
                "item_id": data.get("vlforge_item_id", "?"),
                "task_type": data.get("task_type", "?"),
                "source": data.get("source", ""),
                "image": image.rsplit("/", 1)[-1] if image.startswith("/data/local-files/?d=images/") else "",
                "rounds": [prediction.get("model_version", "?") for prediction in task.get("predictions") or []],
                "below": ((task.get("meta") or {}).get("below_threshold")) or {},
            }
        )
    return {"items": items, "pager": paging, "total": len(tasks)}
