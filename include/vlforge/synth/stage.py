"""The synthesize stage: plan mapped shards, render each shard in one Chromium, merge, replay a sample.

``plan_synth`` splits the recipe's counts into shards of ``synth.shard_size`` pages or screens (one
shard per PDF); ``synthesize_shard`` renders one and writes its samples, its check rows (the synth
gate's input) and its quarantine into the run folder; ``merge_synthesized`` gathers the shards in
plan order into ``synthesized.parquet`` with the recipe's split. Item ``i`` of a kind gets the seed
``SeedSequence([run seed, kind, i])``, so shards can run in any order, on any worker, and give the
same samples. The stage reads nothing that ingest writes, so it runs beside ingest, right after prepare.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from vlforge.manifest import read_manifest, write_manifest, write_split_manifest
from vlforge.preannotate.tesseract import run_tsv, tsv_words
from vlforge.records import Sample
from vlforge.run import RunDescription
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text
from vlforge.synth.browser import Browser, encode_png
from vlforge.synth.config import SynthConfig
from vlforge.synth.documents import DocumentGenerator
from vlforge.synth.documents.checks import PageReader, ReadWord
from vlforge.synth.degrade import replay_degradations
from vlforge.synth.documents.pages import PageCheck, ocr_lines, page_samples
from vlforge.synth.documents.pdf import PdfError, pdf_samples
from vlforge.synth.gui import ScreenGenerator
from vlforge.synth.gui.actions import ScreenResult, screen_samples

KINDS = ("documents", "gui", "pdf")
CHECK_COLUMNS = ["sample_id", "kind", "template", "language", "check", "glyphs_ok", "words_ok", "accuracy",
                 "targets", "verified", "reason"]


def tesseract_words(pixels: np.ndarray, languages: Sequence[str], name: str) -> list[ReadWord]:
    """The stage's OCR engine: Tesseract's words on a page (every confidence kept: read-back counts all it read)."""
    tsv = run_tsv(Image.fromarray(pixels), name, languages, psm=3, timeout_s=300.0)
    return [ReadWord(word.text, word.box) for word in tsv_words(tsv, min_word_confidence=0.0)]


def item_seed(run_seed: int, kind: str, index: int) -> int:
    """The seed of item ``index`` of ``kind``: independent of shard boundaries."""
    return int(np.random.SeedSequence([run_seed, KINDS.index(kind), index]).generate_state(1)[0] & 0x7FFFFFFF)


def plan_synth_shards(config: SynthConfig, seed: int) -> list[dict[str, Any]]:
    """JSON-able shard descriptions ``{index, name, kind, start, count, seed}`` (PDFs: ``path``), in a fixed order."""
    shards: list[dict[str, Any]] = []
    for kind, total in (("documents", config.documents.count), ("gui", config.gui.screens)):
        for start in range(0, total, config.shard_size):
            shards.append({"kind": kind, "start": start, "count": min(config.shard_size, total - start), "seed": seed})
    shards += [{"kind": "pdf", "path": path, "start": 0, "count": 1, "seed": seed} for path in config.pdfs.paths]
    return [{"index": index, "name": f"shard-{index:04d}", **shard} for index, shard in enumerate(shards)]


def plan_synth(run: RunDescription) -> list[dict[str, Any]]:
    """The run's shards (``plan_synth_shards`` of its recipe and seed), also written to the run folder."""
    shards = plan_synth_shards(run.recipe.synth, run.seed)
    atomic_write_text(run.run_dir.synth_plan, json.dumps(shards, indent=2))
    return shards


def document_params(config: SynthConfig, seed: int, index: int) -> tuple[dict[str, Any], np.random.Generator, int]:
    """Page ``index``'s params, the generator that continues into its degradations, and its seed."""
    documents = config.documents
    template = documents.templates[index % len(documents.templates)]
    language = documents.languages[(index // len(documents.templates)) % len(documents.languages)]
    page_seed = item_seed(seed, "documents", index)
    rng = np.random.default_rng(page_seed)
    return DocumentGenerator(template, language, config.vocabulary.get(language)).sample(rng), rng, page_seed


def screen_params(config: SynthConfig, seed: int, index: int) -> tuple[dict[str, Any], int]:
    gui = config.gui
    template = gui.templates[index % len(gui.templates)]
    device = gui.devices[(index // len(gui.templates)) % len(gui.devices)]
    screen_seed = item_seed(seed, "gui", index)
    generator = ScreenGenerator(template, device, gui.languages, gui.themes, config.vocabulary)
    return generator.sample(np.random.default_rng(screen_seed)), screen_seed


@dataclass
class ShardOutput:
    """What one shard rendered: samples, check rows, quarantine entries, and the time spent inside Chromium."""

    samples: list[Sample] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, str]] = field(default_factory=list)
    chromium_seconds: float = 0.0


def render_shard(shard: dict[str, Any], config: SynthConfig, store: ImageStore, read: PageReader = tesseract_words) -> ShardOutput:
    """Render one planned shard (one Chromium for all its pages or screens).

    A page or screen that fails a check, and a PDF poppler cannot read, becomes a quarantine entry
    with the reason; the shard goes on.
    """
    out = ShardOutput()
    if shard["kind"] == "pdf":
        try:
            out.samples = pdf_samples(Path(shard["path"]), store, config.pdfs.dpi, config.pdfs.max_pages)
        except PdfError as error:  # a broken PDF is the team's input: quarantined, the run goes on
            out.quarantine.append({"source_file": shard["path"], "record_id": "", "reason": str(error)})
        return out
    with Browser() as browser:
        for index in range(shard["start"], shard["start"] + shard["count"]):
            if shard["kind"] == "documents":
                params, rng, page_seed = document_params(config, shard["seed"], index)
                result = page_samples(browser, read, params, store, page_seed, config.documents, rng)
                out.samples += result.samples
                out.quarantine += result.quarantine
                out.checks += [_page_row(check) for check in result.checks]
            else:
                params, screen_seed = screen_params(config, shard["seed"], index)
                gui = config.gui
                screen = screen_samples(browser, params, store, screen_seed, gui.grounding_per_screen,
                                        gui.actions_per_screen, gui.trajectories)
                out.samples += screen.samples
                out.checks += _screen_rows(params, screen)
                out.quarantine += [{"source_file": f"synth/gui/{params['template']}", "record_id": str(screen_seed),
                                    "reason": problem} for problem in screen.problems]
        out.chromium_seconds = browser.chromium_seconds
    return out


def _checks_bytes(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=CHECK_COLUMNS).to_parquet(buffer, index=False)
    return buffer.getvalue()


def synthesize_shard(run: RunDescription, shard: dict[str, Any]) -> dict[str, Any]:
    """Render one planned shard and write its samples, checks and quarantine into the run folder.

    Returns:
        Counts for the task's XCom: samples, quarantined, seconds inside Chromium.
    """
    run_dir, name = run.run_dir, shard["name"]
    out = render_shard(shard, run.recipe.synth, run.store)
    write_manifest(out.samples, run_dir.synth_shard(name))
    atomic_write_bytes(run_dir.synth_shard_checks(name), _checks_bytes(out.checks))
    atomic_write_text(run_dir.synth_shard_quarantine(name), json.dumps(out.quarantine, ensure_ascii=False, indent=2))
    return {"shard": name, "kind": shard["kind"], "samples": len(out.samples), "quarantined": len(out.quarantine),
            "chromium_seconds": round(out.chromium_seconds, 3)}


def merge_synthesized(run: RunDescription) -> dict[str, Any]:
    """Gather every planned shard, in plan order, into the run's synthetic manifest, checks and quarantine.

    Raises:
        FileNotFoundError: naming a planned shard whose files are missing.
    """
    run_dir, config = run.run_dir, run.recipe.synth
    plan = json.loads(run_dir.synth_plan.read_text(encoding="utf-8"))
    samples: list[Sample] = []
    checks: list[pd.DataFrame] = []
    quarantine: list[dict[str, str]] = []
    for shard in plan:
        path = run_dir.synth_shard(shard["name"])
        if not path.is_file():
            raise FileNotFoundError(f"synth shard {shard['name']} ({shard['kind']}) has no samples file at {path}")
        samples += read_manifest(path)
        checks.append(pd.read_parquet(run_dir.synth_shard_checks(shard["name"])))
        quarantine += json.loads(run_dir.synth_shard_quarantine(shard["name"]).read_text(encoding="utf-8"))
    write_split_manifest(samples, [config.split] * len(samples), run_dir.synthesized)
    merged = pd.concat(checks, ignore_index=True) if checks else pd.DataFrame(columns=CHECK_COLUMNS)
    atomic_write_bytes(run_dir.synth_checks, _checks_bytes(merged.to_dict("records")))
    atomic_write_text(run_dir.synth_quarantine, "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in quarantine))
    stats = {
        "samples": len(samples),
        "split": config.split,
        "by_task_type": dict(sorted(Counter(sample.task_type for sample in samples).items())),
        "by_generator": dict(sorted(Counter(sample.source.file.split("/")[1] for sample in samples).items())),
        "quarantined": len(quarantine),
        "shards": len(plan),
    }
    atomic_write_text(run_dir.synth_stats, json.dumps(stats, indent=2, sort_keys=True))
    return stats


def _page_row(check: PageCheck) -> dict[str, Any]:
    row = asdict(check)
    return {**row, "kind": "documents", "check": row.pop("kind"), "targets": None, "verified": None}


def _screen_rows(params: dict[str, Any], screen: ScreenResult) -> list[dict[str, Any]]:
    common = {"kind": "gui", "template": params["template"], "language": params["language"], "glyphs_ok": None,
              "words_ok": None, "accuracy": None, "targets": screen.targets}
    rows = [{**common, "sample_id": sample.sample_id, "check": sample.task_type, "verified": True, "reason": ""}
            for sample in screen.samples]
    rows += [{**common, "sample_id": "", "check": "gui_action", "verified": False, "reason": problem} for problem in screen.problems]
    return rows


@dataclass(frozen=True)
class SynthReplay:
    sample_id: str
    ok: bool
    detail: str


def replay_synthetic(sample: Sample, store_dir: Path, images_dir: Path | None = None) -> SynthReplay:
    """Recreate a synthetic sample from its lineage and compare image bytes and annotations.

    Documents re-render the recorded params and re-apply the recorded degradations; screens re-run
    the recorded screen's generation and pick the sample with the same id; PDF pages cannot be
    replayed without their file and say so. The stored image is looked up in ``images_dir`` (a
    release's flat ``images/``) first, then in the store.
    """
    if not sample.synthetic or not sample.lineage:
        return SynthReplay(sample.sample_id, False, "not a synthetic sample with lineage")
    first = sample.lineage[0]
    params = json.loads(first.params_json)
    store = ImageStore(store_dir)
    reference = sample.images[0]
    flat = Path(images_dir) / reference.file_name if images_dir else None
    expected = flat if flat is not None and flat.is_file() else store.path_for(reference.sha256, reference.format)
    with Browser() as browser:
        if first.op == DocumentGenerator.name:
            rendered = DocumentGenerator(params["template"], params["language"]).render(browser, params)
            page = replay_degradations(rendered.pixels, ocr_lines(rendered), sample.lineage[1:])
            data, lines = encode_png(page.pixels), page.lines
            same_annotations = lines == sample.ocr_lines
        elif first.op == ScreenGenerator.name:
            role = sample.lineage[1]
            counts = json.loads(role.params_json)
            if role.op == "synth.gui.trajectory":
                again = screen_samples(browser, params, store, int(first.seed or 0), 0, 0, True)
            else:
                actions = counts["actions"] if role.op == "synth.gui.action" else 0
                again = screen_samples(browser, params, store, int(first.seed or 0), counts["grounding"], actions, False)
            twin = next((s for s in again.samples if s.sample_id == sample.sample_id), None)
            if twin is None:
                return SynthReplay(sample.sample_id, False, "the replayed screen did not produce this sample")
            data = store.path_for(twin.images[0].sha256, "png").read_bytes()
            same_annotations = twin == sample
        else:
            return SynthReplay(sample.sample_id, False, f"{first.op} samples are not replayable from the lineage alone")
    if not expected.is_file():
        return SynthReplay(sample.sample_id, False, f"image {expected} is missing from the store")
    same_bytes = data == expected.read_bytes()
    detail = f"image bytes {'equal' if same_bytes else 'DIFFER'}, annotations {'equal' if same_annotations else 'DIFFER'}"
    return SynthReplay(sample.sample_id, same_bytes and same_annotations, detail)
