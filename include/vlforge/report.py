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

from PIL import Image, ImageDraw

from vlforge.records import Box, Sample
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text

THUMBNAIL_SIDE = 480
_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]


def pick_samples(samples: list[Sample], count: int, seed: int) -> list[Sample]:
    """A seeded choice that favours samples with something to draw."""
    drawable = sorted((s for s in samples if s.boxes or s.ocr_lines), key=lambda s: s.sample_id)
    rest = sorted((s for s in samples if not (s.boxes or s.ocr_lines)), key=lambda s: s.sample_id)
    rng = random.Random(seed)
    chosen = rng.sample(drawable, min(count, len(drawable)))
    return chosen + rng.sample(rest, min(count - len(chosen), len(rest)))


def draw_sample(sample: Sample, store: ImageStore) -> bytes:
    """The sample's first image with its boxes and OCR line boxes drawn and labelled, as a JPEG thumbnail."""
    image_ref = sample.images[0]
    with Image.open(store.path_for(image_ref.sha256, image_ref.format)) as source:
        image = source.convert("RGB")
    draw = ImageDraw.Draw(image)
    line_width = max(2, round(max(image.size) / 250))
    labelled: list[tuple[Box, str]] = [(box, box.label) for box in sample.boxes if box.image_index == 0]
    labelled += [(line.box, line.text) for line in sample.ocr_lines if line.box and line.box.image_index == 0]
    for index, (box, label) in enumerate(labelled):
        colour = _COLOURS[index % len(_COLOURS)]
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=colour, width=line_width)
        if label:
            text_box = draw.textbbox((box.x1, box.y1), label)
            draw.rectangle(text_box, fill=colour)
            draw.text((box.x1, box.y1), label, fill="white")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_report(release_dir: Path, release: dict[str, Any], samples: list[Sample], store: ImageStore, count: int, seed: int) -> Path:
    """Write ``report.html`` and its drawn samples into ``release_dir``.

    Returns:
        The report's path.
    """
    gallery = []
    for sample in pick_samples(samples, count, seed):
        name = f"report_assets/{sample.sample_id}.jpg"
        atomic_write_bytes(release_dir / name, draw_sample(sample, store))
        gallery.append((sample, name))
    path = release_dir / "report.html"
    atomic_write_text(path, _page(release, samples, gallery))
    return path


def _page(release: dict[str, Any], samples: list[Sample], gallery: list[tuple[Sample, str]]) -> str:
    counts = release["counts"]
    by_type = Counter(sample.task_type for sample in samples)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(by_type.items()))
    gates = "".join(
        f"<tr class='{'pass' if gate['passed'] else 'fail'}'><td>{html.escape(gate['name'])}</td>"
        f"<td>{'passed' if gate['passed'] else 'FAILED'}</td><td>{gate['evaluated']}</td>"
        f"<td>{html.escape(', '.join(gate['failed']) or '-')}</td></tr>"
        for gate in release["gates"]
    )
    figures = "".join(
        f"<figure><img src='{name}' alt='sample {sample.sample_id}'><figcaption>{html.escape(sample.task_type)} · "
        f"round {sample.round} · {html.escape(sample.source.file)} {html.escape(sample.source.record_id)}<br>"
        f"{html.escape(_first_answer(sample))}</figcaption></figure>"
        for sample, name in gallery
    )
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
<table><tr><th>rows in</th><th>released</th><th>quarantined</th><th>quarantined share</th></tr>
<tr><td>{counts['rows_in']}</td><td>{counts['rows_ok']}</td><td>{counts['rows_quarantined']}</td>
<td>{counts['quarantine_share']:.1%}</td></tr></table>
<table><tr><th>task type</th><th>samples</th></tr>{rows}</table>
<p>Quarantined records and their reasons: <a href="quarantine.jsonl">quarantine.jsonl</a></p>
<h2>Gates</h2>
<table><tr><th>gate</th><th>outcome</th><th>expectations</th><th>failed</th></tr>{gates}</table>
<p>Great Expectations Data Docs: <a href="gx/index.html">gx/index.html</a></p>
<h2>Samples</h2>{figures}
</body></html>
"""


def _first_answer(sample: Sample) -> str:
    answers = [turn.content for turn in sample.conversations if turn.role == "assistant"]
    if answers:
        return answers[0][:200]
    return "; ".join(line.text for line in sample.ocr_lines)[:200]
