"""The synthesize stage: plan mapped shards, render each shard in one Chromium, replay a sample.

``plan_synth_shards`` splits the recipe's counts into shards of ``shard_size`` pages or screens
(one shard per PDF); ``synthesize_shard`` renders one shard and writes, under the folder it is
given, ``shard-NNNN.parquet`` (the samples, ``vlforge.manifest``), ``shard-NNNN.checks.parquet``
(one row per page or screen check, the synth gate's input) and ``shard-NNNN.quarantine.json``.
Item ``i`` of a kind gets the seed ``SeedSequence([run seed, kind, i])``, so shards can run in
any order, on any worker, and give the same samples.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlforge.manifest import read_manifest, write_manifest
from vlforge.records import Sample
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text
from vlforge.synth.browser import Browser, encode_png
from vlforge.synth.config import SynthConfig
from vlforge.synth.documents import DocumentGenerator
from vlforge.synth.documents.pages import PageCheck, page_samples
from vlforge.synth.documents.pdf import PdfError, pdf_samples
from vlforge.synth.gui import ScreenGenerator
from vlforge.synth.gui.actions import screen_samples

KINDS = ("documents", "gui", "pdf")
CHECK_COLUMNS = ["sample_id", "kind", "template", "language", "check", "glyphs_ok", "words_ok", "accuracy",
                 "targets", "verified", "reason"]


def item_seed(run_seed: int, kind: str, index: int) -> int:
    """The seed of item ``index`` of ``kind``: independent of shard boundaries."""
    return int(np.random.SeedSequence([run_seed, KINDS.index(kind), index]).generate_state(1)[0] & 0x7FFFFFFF)


def plan_synth_shards(config: SynthConfig, seed: int) -> list[dict[str, Any]]:
    """JSON-able shard descriptions ``{index, kind, start, count, seed}`` (PDFs: ``path``), in a fixed order."""
    shards: list[dict[str, Any]] = []
    for kind, total in (("documents", config.documents.count), ("gui", config.gui.screens)):
        for start in range(0, total, config.shard_size):
            shards.append({"kind": kind, "start": start, "count": min(config.shard_size, total - start), "seed": seed})
    shards += [{"kind": "pdf", "path": path, "start": 0, "count": 1, "seed": seed} for path in config.pdfs.paths]
    return [{"index": index, **shard} for index, shard in enumerate(shards)]


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


@dataclass(frozen=True)
class ShardSummary:
    index: int
    kind: str
    samples: int
    quarantined: int
    manifest: str
    chromium_seconds: float


def synthesize_shard(shard: dict[str, Any], config: SynthConfig, store_dir: Path, folder: Path) -> ShardSummary:
    """Render one planned shard and write its samples, checks and quarantine under ``folder``.

    Args:
        shard: one entry of ``plan_synth_shards``.
        config: the recipe's ``synth`` section.
        store_dir: the content-addressed image store.
        folder: where the shard files go (the run folder's synth folder).

    Returns:
        Counts and the manifest path, for the task's XCom.
    """
    store = ImageStore(store_dir)
    samples: list[Sample] = []
    checks: list[dict[str, Any]] = []
    quarantine: list[dict[str, str]] = []
    chromium = 0.0
    if shard["kind"] == "pdf":
        try:
            samples = pdf_samples(Path(shard["path"]), store, config.pdfs.dpi, config.pdfs.max_pages)
        except PdfError as error:  # a broken PDF is the team's input: quarantined, the run goes on
            quarantine.append({"source_file": shard["path"], "record_id": "", "reason": str(error)})
    else:
        with Browser() as browser:
            for index in range(shard["start"], shard["start"] + shard["count"]):
                if shard["kind"] == "documents":
                    params, rng, page_seed = document_params(config, shard["seed"], index)
                    result = page_samples(browser, params, store, page_seed, config.documents, rng)
                    samples += result.samples
                    quarantine += result.quarantine
                    checks += [_page_row(check) for check in result.checks]
                else:
                    params, screen_seed = screen_params(config, shard["seed"], index)
                    gui = config.gui
                    screen = screen_samples(browser, params, store, screen_seed, gui.grounding_per_screen,
                                            gui.actions_per_screen, gui.trajectories)
                    samples += screen.samples
                    checks += _screen_rows(params, screen)
                    quarantine += [{"source_file": f"synth/gui/{params['template']}", "record_id": str(screen_seed),
                                    "reason": problem} for problem in screen.problems]
            chromium = browser.chromium_seconds
    name = f"shard-{shard['index']:04d}"
    manifest = folder / f"{name}.parquet"
    write_manifest(samples, manifest)
    buffer = io.BytesIO()
    pd.DataFrame(checks, columns=CHECK_COLUMNS).to_parquet(buffer, index=False)
    atomic_write_bytes(folder / f"{name}.checks.parquet", buffer.getvalue())
    atomic_write_text(folder / f"{name}.quarantine.json", json.dumps(quarantine, ensure_ascii=False, indent=2))
    return ShardSummary(shard["index"], shard["kind"], len(samples), len(quarantine), str(manifest), round(chromium, 3))


def _page_row(check: PageCheck) -> dict[str, Any]:
    row = asdict(check)
    return {**row, "kind": "documents", "check": row.pop("kind"), "targets": None, "verified": None}


def _screen_rows(params: dict[str, Any], screen: Any) -> list[dict[str, Any]]:
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


def find_synthetic(folder: Path, sample_id: str) -> Sample | None:
    """The synthetic sample ``sample_id`` in a manifest, or in any sample manifest of a folder (shards, release).

    Parquet files that are not sample manifests (check tables, agreement tables) are passed over.
    """
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.parquet"), *folder.glob("synth/*.parquet")])
    for path in files:
        if path.name.endswith(".checks.parquet"):
            continue
        try:
            samples = read_manifest(path)
        except (KeyError, ValueError, TypeError):
            continue
        found = next((sample for sample in samples if sample.sample_id == sample_id), None)
        if found is not None:
            return found if found.synthetic else None
    return None


def replay_synthetic(sample: Sample, store_dir: Path, images_dir: Path | None = None) -> SynthReplay:
    """Recreate a synthetic sample from its lineage and compare image bytes and annotations.

    Documents re-render the recorded params and re-apply the recorded degradations; screens re-run
    the recorded screen's generation and pick the sample with the same id; PDF pages cannot be
    replayed without their file and say so. The stored image is looked up in ``images_dir`` (a
    release's flat ``images/``) first, then in the store.
    """
    from vlforge.synth.degrade import replay_degradations
    from vlforge.synth.documents.pages import ocr_lines

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
