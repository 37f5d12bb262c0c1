"""The dashboard app behind Airflow's own authentication, in process, on three real releases of one dataset.

v1 is the demo as it is (superseded), v2 drops the cat, adds it back as a new task and rewords the
camera's caption (current), v3 moves the astronaut's round-2 boxes so IoU agreement falls from
0.8584 to 0.8299, more than the 0.02 tolerance (held). See ``tests/dashboard_releases.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dashboard_releases import CAT_CAPTION, DashboardReleases
from vlforge.catalog import open_catalog

REVIEW_ITEM_METRIC = "iou_agreement 0.6667"

# Airflow's metadata DB (a subprocess migrates it) and three releases built with the BERTScore model.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def token(airflow_db: Path) -> str:
    """A JWT for the admin user, signed by Airflow's simple auth manager (what its login page issues)."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


def _client(catalog_url: str, token: str | None) -> TestClient:
    from vlforge_dashboard import dashboard_app

    return TestClient(dashboard_app(catalog_url), cookies={"_token": token} if token else None)


@pytest.fixture(scope="module")
def client(dashboard_releases: DashboardReleases, token: str) -> Iterator[TestClient]:
    with _client(dashboard_releases.catalog_url, token) as opened:
        yield opened


@pytest.fixture(scope="module")
def versions(dashboard_releases: DashboardReleases) -> list[str]:
    return [release.version for release in dashboard_releases.releases]


def text(response) -> str:  # noqa: ANN001 - an httpx response
    """The page's visible text, one space between words."""
    assert response.status_code == 200, response.text[:2000]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def row_of(page: str, table_id: str, first_cell: str) -> str:
    """The text of the row of table ``table_id`` whose first cell is ``first_cell``."""
    table = re.search(rf'<table id="{table_id}".*?</table>', page, flags=re.S)
    assert table, f"no table {table_id}"
    for row in re.findall(r"<tr\b.*?</tr>", table.group(0), flags=re.S):
        cells = [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", cell))).strip() for cell in re.findall(r"<t[dh]\b.*?</t[dh]>", row, flags=re.S)]
        if cells and cells[0] == first_cell:
            return " | ".join(cells)
    raise AssertionError(f"no row {first_cell!r} in table {table_id}")


def test_the_builder_made_one_first_one_promoted_and_one_held_release(dashboard_releases: DashboardReleases) -> None:
    assert [release.outcome for release in dashboard_releases.releases] == ["first", "promoted", "regression"]


def test_every_route_refuses_an_anonymous_request_and_a_forged_token(
    dashboard_releases: DashboardReleases, versions: list[str], token: str
) -> None:
    """Airflow's auth manager is up (``token``), as on the API server: the refusals are its own."""
    v3 = versions[2]
    paths = [
        "/",
        "/trends/demo",
        f"/releases/demo/{v3}",
        f"/releases/demo/{v3}/gallery",
        f"/releases/demo/{v3}/diff",
        f"/releases/demo/{v3}/review",
        f"/releases/demo/{v3}/files/",
        f"/releases/demo/{v3}/files/RELEASE.json",
        f"/releases/demo/{v3}/thumbnails/anything.jpg",
        "/static/plotly.min.js",
    ]
    with _client(dashboard_releases.catalog_url, None) as anonymous:
        assert {path: anonymous.get(path).status_code for path in paths} == dict.fromkeys(paths, 401)
    with _client(dashboard_releases.catalog_url, "not.a.jwt") as forged:
        assert {path: forged.get(path).status_code for path in paths} == dict.fromkeys(paths, 403)


def test_releases_lists_every_version_with_status_parent_and_links(client: TestClient, versions: list[str]) -> None:
    response = client.get("/")
    page = text(response)
    v1, v2, v3 = versions
    assert row_of(response.text, "releases", "demo").startswith(f"demo | {v1} | superseded | 3 passed | 10 | test 0 train 10 val 0 | - |")
    assert re.search(rf"demo {v2} current 3 passed 10 test 0 train 10 val 0 {v1} \S+ vlforge \(no regression\)", page)
    assert re.search(rf"demo {v3} held 3 passed 10 test 0 train 10 val 0 {v2} \S+ - ", page)
    assert f'href="/releases/demo/{v3}/gallery"' in response.text
    # The DAG run that made v2, in Airflow's UI (the whole window, not the plugin's frame).
    assert 'href="/dags/vlforge_release/runs/manual__2026-12-02T10%3A00%3A00%2B00%3A00" target="_top"' in response.text
    assert "Page 1 of 1 (3 items)" in page


def test_trends_show_each_metric_with_threshold_and_the_held_regression_marked(client: TestClient, versions: list[str]) -> None:
    response = client.get("/trends/demo")
    page = response.text
    assert row_of(page, "trend-values", "iou_agreement") == "iou_agreement | 0.8584 | 0.8584 | 0.8299 ▼"
    assert row_of(page, "trend-values", "iou_agreement threshold (at least)") == "iou_agreement threshold (at least) | 0.8000 | 0.8000 | 0.8000"
    assert row_of(page, "trend-values", "ocr_accuracy") == "ocr_accuracy | 1.0000 | 1.0000 | 1.0000"
    assert row_of(page, "trend-values", "bertscore_f1") == "bertscore_f1 | 0.7939 | 0.7939 | 0.7939"
    assert row_of(page, "trend-values", "quarantine_share") == "quarantine_share | 0.0909 | 0.0909 | 0.0909"
    assert row_of(page, "trend-values", "quarantine_share threshold (at most)").endswith("| 0.2000 | 0.2000 | 0.2000")
    assert row_of(page, "trend-values", "synthetic_share") == "synthetic_share | 0.0000 | 0.0000 | 0.0000"
    assert row_of(page, "trend-values", "series") == f"series | {versions[0]} superseded | {versions[1]} current | {versions[2]} held"
    assert page.count('class="regressed" title="regression"') == 2  # the dataset mean and grounding's
    charts = re.findall(r'data-trend="([a-z_0-9]+)"', page)
    assert charts[:3] == ["iou_agreement", "ocr_accuracy", "bertscore_f1"]
    assert {"quarantine_share", "shares", "visual_tokens", "augment_ops"} <= set(charts)
    # Plotly draws each chart from the dashboard's own copy of plotly.min.js; the held point is an "x".
    assert '<script src="/static/plotly.min.js">' in page and page.count("Plotly.newPlot") == len(charts)
    iou_chart = page[page.index('id="trend-iou_agreement"') :]
    assert '"symbol":["circle","circle","x"]' in iou_chart[: iou_chart.index("Plotly.newPlot(") + 20_000].replace(" ", "")
    script = client.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000 and b"plotly.js v" in script.content[:200]


def test_release_detail_renders_gates_drops_and_quarantine_from_the_release(client: TestClient, versions: list[str]) -> None:
    response = client.get(f"/releases/demo/{versions[2]}")
    page = text(response)
    assert "Status held" in page and f"parent {versions[1]}" in page
    assert "quality: passed , 3 expectations" in page and "ingest: passed , 11 expectations" in page
    assert "augment: passed , 9 expectations" in page
    assert (
        "agreement_grounding expect_iou_agreement_at_least iou_agreement 0.8299 ≥ 0.8000 passed "
        "Mean iou_agreement of grounding items is at least 0.8." in page
    )
    assert "ingest_stats expect_quarantine_share_at_most quarantine_share 0 unexpected of 1 ≥ 0.0000, ≤ 0.2000 passed" in page
    assert row_of(response.text, "metrics", "iou_agreement") == "iou_agreement | 0.8299 | n/a | 0.8299 | n/a"
    assert row_of(response.text, "counts", "11").startswith("11 | 10 | 1 | 9.1% | 10 | 0.0%")
    quarantine = row_of(response.text, "quarantine-reasons", "image file not found")
    assert quarantine.startswith("image file not found | 1 | label_studio_export.json task 7/annotation 111 · data.image")
    assert "skimage/horse.png" in quarantine
    assert row_of(response.text, "drop-reasons", "none") == "none"
    assert "Review queue (1)" in page


def test_gallery_filters_paginates_and_draws_thumbnails(client: TestClient, versions: list[str]) -> None:
    base = f"/releases/demo/{versions[2]}/gallery"
    page = client.get(base).text
    assert "10 of 10 samples match." in text(client.get(base))
    ids = re.findall(r'class="card sample" data-sample-id="([0-9a-f]+)" data-kind="(\w+)"', page)
    assert len(ids) == 10 and sorted(kind for _, kind in ids) == ["augmented"] * 5 + ["real"] * 5
    augmented = text(client.get(base, params={"kind": "augmented"}))
    assert "5 of 10 samples match." in augmented and augmented.count("parents:") == 5 and augmented.count("ops:") == 5
    ocr = text(client.get(base, params={"task_type": "ocr"}))
    assert "2 of 10 samples match." in ocr and "OCR lines: Region-based segmentation" in ocr and "ocr_accuracy 1.0000" in ocr
    assert "0 of 10 samples match." in text(client.get(base, params={"split": "val"}))
    assert "5 of 10 samples match." in text(client.get(base, params={"source": "label_studio_export.json", "kind": "real"}))
    # Released samples are above their per-sample thresholds: nothing fails; the lowest IoU comes first.
    assert "0 of 10 samples match." in text(client.get(base, params={"failing": "iou_agreement"}))
    lowest = text(client.get(base, params={"lowest": "iou_agreement"}))
    assert lowest.index("iou_agreement 0.8572") < lowest.index("iou_agreement 0.9657")
    second_page = client.get(base, params={"per_page": 4, "p": 3})
    assert "Page 3 of 3 (10 items)" in text(second_page)
    assert len(re.findall(r'class="card sample"', second_page.text)) == 2
    for sample_id, _ in ids:
        picture = client.get(f"{base.removesuffix('/gallery')}/thumbnails/{sample_id}.jpg")
        assert picture.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(picture.content)) as image:
            assert max(image.size) == 320
    cat = text(client.get(base, params={"task_type": "grounding", "kind": "real"}))
    assert CAT_CAPTION in cat


def test_an_augmented_sample_links_to_its_parent(client: TestClient, versions: list[str]) -> None:
    base = f"/releases/demo/{versions[2]}/gallery"
    page = client.get(base, params={"kind": "augmented"}).text
    parent = re.search(r'href="[^"]*sample=([0-9a-f]+)" class="parent"', page)
    assert parent
    shown = client.get(base, params={"sample": parent.group(1)}).text
    assert re.findall(r'data-sample-id="([0-9a-f]+)" data-kind="(\w+)"', shown) == [(parent.group(1), "real")]


def test_diff_counts_added_removed_changed_and_metric_deltas(client: TestClient, versions: list[str]) -> None:
    v1, v2, v3 = versions
    second = client.get(f"/releases/demo/{v2}/diff")
    assert row_of(second.text, "diff-counts", "2") == "2 | 2 | 2 | 0 | 0 | 2"  # the cat and its copy, both ways; the camera's caption and its copy
    changed = text(second)
    assert f"Diff: {v2} against {v1}" in changed and changed.count("text changed") == 2 + 1
    assert "A photographer in a long coat stands in a meadow" in changed and "A black-and-white photo of a man" in changed
    added = text(client.get(f"/releases/demo/{v2}/diff", params={"show": "added"}))
    assert CAT_CAPTION in added and "before: not in" in added
    third = client.get(f"/releases/demo/{v3}/diff")
    assert row_of(third.text, "diff-counts", "0") == "0 | 0 | 0 | 0 | 0 | 0"
    assert row_of(third.text, "deltas", "all").startswith("all | bertscore_f1 | 0.7939 | 0.7939 | +0.0000")
    assert "action_completeness" not in third.text.split('id="deltas"')[1].split("</table>")[0]  # measured in neither
    deltas = text(third)
    assert "all iou_agreement 0.8584 0.8299 -0.0285 0.0200 REGRESSION" in deltas
    assert "grounding iou_agreement 0.8584 0.8299 -0.0285 0.0200 REGRESSION" in deltas
    assert "ocr ocr_accuracy 1.0000 1.0000 +0.0000 0.0200" in deltas
    assert "This release has no parent" in text(client.get(f"/releases/demo/{v1}/diff"))


def test_review_queue_lists_items_with_metrics_and_the_import_file(client: TestClient, versions: list[str]) -> None:
    base = f"/releases/demo/{versions[2]}"
    page = text(client.get(f"{base}/review"))
    assert "1 items went back to annotators." in page
    assert f"{REVIEW_ITEM_METRIC} < 0.85" in page and "task 4/annotation 107" in page
    tasks = client.get(f"{base}/files/review/review_tasks.json").json()
    assert len(tasks) == 1 and tasks[0]["meta"]["below_threshold"]["iou_agreement"]["value"] == 0.6667
    assert client.get(f"{base}/files/../../../catalog.sqlite").status_code == 404
    assert client.get(f"{base}/files/%2E%2E/%2E%2E/%2E%2E/catalog.sqlite").status_code == 404


def test_damage_shows_on_its_item_and_the_rest_of_the_page_works(
    dashboard_releases: DashboardReleases, token: str, tmp_path: Path
) -> None:
    v1, v2, _ = dashboard_releases.releases
    corrupt, broken_image = tmp_path / "corrupt", tmp_path / "broken_image"
    shutil.copytree(v1.path, corrupt)
    (corrupt / "RELEASE.json").write_text('{"dataset": "demo", "vers', encoding="utf-8")
    shutil.copytree(v2.path, broken_image)
    shutil.rmtree(broken_image / "thumbnails")
    content = json.loads((broken_image / "RELEASE.json").read_text())
    image = sorted((broken_image / "images").iterdir())[0]  # any image of the release will do
    image.unlink()
    image.write_bytes(b"not an image")
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with open_catalog(url) as catalog:
        catalog.record_release({"dataset": "damaged", "version": "gone", "content_hash": "0" * 64, "path": str(tmp_path / "gone")})
        catalog.record_release({"dataset": "damaged", "version": "nopath", "content_hash": "2" * 64})
        catalog.record_release({"dataset": "damaged", "version": "corrupt", "content_hash": "1" * 64, "path": str(corrupt)})
        catalog.record_release(content | {"dataset": "damaged", "version": "broken", "path": str(broken_image)})
    with _client(url, token) as client:
        listing = text(client.get("/"))
        assert f"release folder {tmp_path / 'gone'} is missing" in listing
        assert f"{corrupt / 'RELEASE.json'} cannot be read" in listing
        assert "damaged broken released 3 passed 10" in listing
        assert re.search(r"damaged nopath released 0 passed .* the catalog row names no release folder", listing)
        assert "the catalog row names no release folder" in text(client.get("/releases/damaged/nopath/review"))
        assert f"release folder {tmp_path / 'gone'} is missing" in text(client.get("/releases/damaged/gone"))
        assert f"release folder {tmp_path / 'gone'} is missing" in text(client.get("/releases/damaged/gone/gallery"))
        detail = text(client.get("/releases/damaged/corrupt"))
        assert "cannot be read" in detail and "Gates" in detail and "Quarantine" in detail
        gallery = client.get("/releases/damaged/broken/gallery")
        broken = re.findall(r'<div class="damage thumb-missing">([^<]+)</div>', gallery.text)
        assert broken and all(f"image {image.name} of sample" in message and "cannot be read" in message for message in broken)
        assert len(re.findall(r"<img src=", gallery.text)) == 10 - len(broken) > 0
        assert "10 of 10 samples match." in text(gallery)
        trends = text(client.get("/trends/damaged"))
        assert f"gone: release folder {tmp_path / 'gone'} is missing" in trends and "corrupt: " in trends
        assert client.get("/releases/damaged/nothing").status_code == 404


def test_importing_the_plugin_imports_neither_the_dashboard_nor_airflows_api(tmp_path: Path) -> None:
    """Airflow imports every plugin in every task process: the dashboard must cost those nothing."""
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    check = (
        "import sys, vlforge_dashboard; "
        "print(sorted(name for name in ('vlforge.dashboard.app', 'airflow.api_fastapi.core_api.security', 'fastapi', 'plotly') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(plugins)})
    assert result.stdout.strip() == "[]"


def test_release_page_shows_evaluation_results_from_the_catalog(
    client: TestClient, dashboard_releases: DashboardReleases, versions: list[str]
) -> None:
    from vlforge.evaluate.results import EvaluationRow

    assert "Not evaluated yet." in text(client.get(f"/releases/demo/{versions[0]}"))
    row = EvaluationRow("ocr_readability", "tesseract 5.3.0", "ocr_word_f1", "op=ocr_degradation", 0.125, 1, [{"sample_id": "s1"}])
    with open_catalog(dashboard_releases.catalog_url) as catalog:
        catalog.record_evaluation("demo", versions[0], "manual__eval", [row.to_json()])
    response = client.get(f"/releases/demo/{versions[0]}")
    assert "run manual__eval" in text(response)
    assert row_of(response.text, "evaluations", "ocr_readability") == (
        "ocr_readability | tesseract 5.3.0 | op=ocr_degradation | ocr_word_f1 | 0.1250 | 1 | s1"
    )
