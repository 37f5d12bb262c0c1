"""A PDF's pages become OCR samples whose words are exactly pdftotext's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from vlforge.store import ImageStore
from vlforge.synth.browser import Browser, Viewport
from vlforge.synth.documents.pdf import pdf_samples

pytestmark = pytest.mark.slow
DEBIAN_PDF = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")


def _check(path: Path, store: ImageStore) -> None:
    samples = pdf_samples(path, store, dpi=100, max_pages=3)
    assert samples
    text = subprocess.run(["pdftotext", "-l", "3", str(path), "-"], capture_output=True, text=True, check=True).stdout
    ours = [word for sample in samples for line in sample.ocr_lines for word in line.text.split()]
    assert ours == text.split()
    for sample in samples:
        image = sample.images[0]
        with Image.open(store.path_for(image.sha256, "png")) as page:
            assert page.size == (image.width, image.height)
        for line in sample.ocr_lines:
            assert 0 <= line.box.x1 < line.box.x2 <= image.width and 0 <= line.box.y1 < line.box.y2 <= image.height


def test_pdf_built_by_chromium_becomes_ocr_samples(tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed (make setup)")
    with Browser() as browser:
        page = browser.open("<html><body style='font: 16px DejaVu Sans'><h1>Quarterly report</h1><p>Revenue grew 12% in March.</p></body></html>", Viewport(800, 600))
        path = tmp_path / "report.pdf"
        path.write_bytes(page.pdf())
        page.close()
    _check(path, ImageStore(tmp_path / "store"))


def test_pdf_from_debian_documentation_becomes_ocr_samples(tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None or not DEBIAN_PDF.is_file():
        pytest.skip(f"{DEBIAN_PDF} or poppler-utils missing")
    _check(DEBIAN_PDF, ImageStore(tmp_path / "store"))


def test_a_broken_pdf_is_quarantined_naming_the_file(tmp_path: Path) -> None:
    from vlforge.synth.config import SynthConfig
    from vlforge.store import ImageStore as Store
    from vlforge.synth.stage import plan_synth_shards, render_shard

    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed (make setup)")
    broken = tmp_path / "scan.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a PDF body")
    config = SynthConfig(pdfs={"paths": [str(broken), str(tmp_path / "missing.pdf")]})
    outputs = [render_shard(shard, config, Store(tmp_path / "store")) for shard in plan_synth_shards(config, 0)]
    assert [(len(out.samples), len(out.quarantine)) for out in outputs] == [(0, 1), (0, 1)]
    first, second = outputs[0].quarantine, outputs[1].quarantine
    assert first[0]["source_file"] == str(broken) and "pdftotext failed on" in first[0]["reason"] and str(broken) in first[0]["reason"]
    assert second[0]["reason"] == f"{tmp_path / 'missing.pdf'}: no such PDF file"
