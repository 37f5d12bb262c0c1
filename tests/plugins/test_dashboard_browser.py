"""The dashboard in a real browser: Airflow's API server with the plugin, Debian's Chromium, Airflow's login page.

The test starts ``airflow api-server`` on port 18160 (its own process group, stopped at the end),
logs in as ``admin`` through the simple auth manager's login page (the password comes from the
passwords file the test writes and points ``[core] simple_auth_manager_passwords_file`` at), opens
"vlforge" from Airflow's navigation and walks every page inside the plugin's frame. Every request
the browser makes is intercepted: one to anything but 127.0.0.1 is aborted and fails the test.
Screenshots are written to a temporary folder whose path is printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard_releases import DashboardReleases

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = 18160
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "vlforge-browser-test"
CHROMIUM = Path("/usr/bin/chromium")


def _playwright():  # noqa: ANN202 - the sync_playwright entry point
    if not CHROMIUM.is_file():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard_screenshots")
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def api_server(airflow_db: Path, dashboard_releases: DashboardReleases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``airflow api-server`` with the plugins folder, on the three releases' catalog; stopped with its process group."""
    folder = tmp_path_factory.mktemp("api_server")
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}), encoding="utf-8")
    env = os.environ | {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__WORKERS": "1",
        "VLFORGE_CATALOG_URL": dashboard_releases.catalog_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = folder / "api_server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "api-server", "--host", "127.0.0.1", "--port", str(PORT)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(server, log)
        yield BASE
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _wait_healthy(server: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"api-server exited with {server.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{BASE}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"api-server not healthy after {timeout_s}s:\n{log.read_text(errors='replace')[-3000:]}")


class BrowserWatch:
    """Console errors, failed requests and requests that tried to leave the machine."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.left_machine: list[str] = []

    def attach(self, context) -> None:  # noqa: ANN001 - a Playwright context
        """Intercept every request of the context from now on."""

        def route(route) -> None:  # noqa: ANN001
            url = route.request.url
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).hostname != "127.0.0.1":
                self.left_machine.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", route)

    def listen(self, page) -> None:  # noqa: ANN001 - a Playwright page
        """Collect the page's console errors and failed requests from now on."""
        page.on("console", lambda message: self.console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        page.on("requestfailed", lambda request: self.failed.append(f"{request.url}: {request.failure}"))

    def assert_clean(self) -> None:
        assert self.left_machine == [], f"requests tried to leave 127.0.0.1: {self.left_machine}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.failed == [], f"failed requests: {self.failed}"


def _dashboard_frame(page):  # noqa: ANN001, ANN202 - Playwright objects
    """The plugin's iframe (Airflow mirrors its path into the page's own URL, ``/plugin/vlforge/vlforge/...``)."""
    frame = next((frame for frame in page.frames if frame.parent_frame is not None and frame.url.startswith(f"{BASE}/vlforge/")), None)
    assert frame is not None, f"no dashboard frame among {[frame.url for frame in page.frames]}"
    frame.wait_for_load_state("load")
    return frame


def _images_loaded(frame) -> tuple[int, int]:  # noqa: ANN001
    """(images drawn, images on the page) once every image has finished loading."""
    frame.wait_for_function("[...document.images].every(image => image.complete)")
    drawn, total = frame.evaluate("[[...document.images].filter(image => image.naturalWidth > 0).length, document.images.length]")
    return drawn, total


def test_every_dashboard_page_from_airflows_navigation(
    api_server: str, dashboard_releases: DashboardReleases, screenshots: Path
) -> None:
    v1, v2, v3 = (release.version for release in dashboard_releases.releases)
    sync_playwright = _playwright()
    watch = BrowserWatch()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            watch.attach(context)
            page = context.new_page()
            page.goto(api_server)
            page.wait_for_url(re.compile(r"/auth/login"))
            page.screenshot(path=str(screenshots / "00_login.png"))
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"{api_server}/")
            # From here on: the UI's own probe before login answers 401 by design and logs it as a console error.
            watch.listen(page)
            page.get_by_role("link", name="vlforge", exact=True).click()  # not the vlforge:// asset links
            page.wait_for_url(re.compile(r"/plugin/vlforge"))
            page.frame_locator('iframe[title="vlforge"]').locator("h1", has_text="Releases").wait_for()
            frame = _dashboard_frame(page)
            assert frame.locator("tr.release").count() == 3
            assert frame.locator(f'tr.release[data-version="{v3}"]').get_attribute("data-status") == "held"
            assert frame.locator(f'tr.release[data-version="{v2}"]').get_attribute("data-status") == "current"
            page.screenshot(path=str(screenshots / "01_releases.png"))

            frame.get_by_role("link", name="Trends: demo").click()
            frame.locator("#trends").wait_for()
            frame = _dashboard_frame(page)
            frame.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            charts = frame.locator(".chart").count()
            assert charts >= 6 and frame.locator(".js-plotly-plot").count() == charts
            # The held release's IoU point is drawn as an "x" in the first chart.
            assert frame.locator("#trend-iou_agreement path.point").count() >= 3
            page.screenshot(path=str(screenshots / "02_trends.png"))

            frame.get_by_role("link", name="Releases").click()
            frame.get_by_role("link", name=v3).click()
            frame.locator("#gates").wait_for()
            frame = _dashboard_frame(page)
            assert frame.locator(".gate").count() == 3 and "held" in frame.locator("#summary").inner_text()
            page.screenshot(path=str(screenshots / "03_release.png"))

            frame.get_by_role("link", name="Gallery").click()
            frame.locator("#matching").wait_for()
            frame = _dashboard_frame(page)
            assert frame.locator(".card.sample").count() == 10
            assert _images_loaded(frame) == (10, 10)
            page.screenshot(path=str(screenshots / "04_gallery.png"))
            frame.locator("select[name=kind]").select_option("augmented")
            frame.get_by_role("button", name="Filter").click()
            frame.wait_for_url(re.compile(r"kind=augmented"))
            frame = _dashboard_frame(page)
            assert frame.locator(".card.sample").count() == 5 and _images_loaded(frame) == (5, 5)
            frame.locator("a.parent").first.click()
            frame.wait_for_url(re.compile(r"sample="))
            frame = _dashboard_frame(page)
            assert frame.locator('.card.sample[data-kind="real"]').count() == 1

            frame.get_by_role("link", name=f"{v3}").first.click()
            frame.get_by_role("link", name="Diff with parent").click()
            frame.locator("#deltas").wait_for()
            frame = _dashboard_frame(page)
            assert "REGRESSION" in frame.locator("#deltas").inner_text()
            page.screenshot(path=str(screenshots / "05_diff_held.png"))
            frame.get_by_role("link", name=v2).first.click()
            frame.get_by_role("link", name="Diff with parent").click()
            frame.locator("#diff-counts").wait_for()
            frame = _dashboard_frame(page)
            assert frame.locator(".diff-item").count() == 2 and _images_loaded(frame) == (4, 4)  # before and after
            page.screenshot(path=str(screenshots / "06_diff.png"))

            frame.get_by_role("link", name=v2).first.click()
            frame.get_by_role("link", name=re.compile(r"Review queue")).click()
            frame.locator("#review").wait_for()
            frame = _dashboard_frame(page)
            assert frame.locator(".review-item").count() == 1 and _images_loaded(frame) == (1, 1)
            page.screenshot(path=str(screenshots / "07_review.png"))
        finally:
            browser.close()
    watch.assert_clean()
    assert v1 and sorted(path.name for path in screenshots.iterdir())[:2] == ["00_login.png", "01_releases.png"]


def test_the_static_report_opens_offline_with_every_resource(dashboard_releases: DashboardReleases, screenshots: Path) -> None:
    """``report.html`` and ``report_gallery.html`` from a copy of the held release, opened from files."""
    sync_playwright = _playwright()
    release = dashboard_releases.releases[2]
    copy = screenshots.parent / "report_copy" / release.version
    shutil.copytree(release.path, copy, symlinks=False)
    watch = BrowserWatch()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            watch.attach(context)
            page = context.new_page()
            watch.listen(page)
            page.goto((copy / "report.html").as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            assert page.locator(".js-plotly-plot").count() == page.locator(".chart").count() >= 6
            drawn, total = _images_loaded(page)
            assert drawn == total >= 2  # the metric histograms and the worst item
            assert "quality: passed" in page.locator("#gates").inner_text()
            page.screenshot(path=str(screenshots / "10_report.png"), full_page=True)
            page.get_by_role("link", name="Gallery").first.click()
            page.wait_for_url(re.compile(r"report_gallery\.html$"))
            assert page.locator(".card.sample").count() == 10 and _images_loaded(page) == (10, 10)
            page.screenshot(path=str(screenshots / "11_report_gallery.png"), full_page=True)
        finally:
            browser.close()
    watch.assert_clean()
