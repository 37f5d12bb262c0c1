"""One headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, started once per shard.

Playwright cannot download its own browser here, so it launches the system binary through
``executable_path``. Every call that waits on Chromium goes through ``Page``, which adds its wall time
to ``Browser.chromium_seconds``: the benchmark reports that share against vlforge's own code.
Screenshots are decoded and re-encoded by Pillow, so stored bytes depend only on the pixels.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

CHROMIUM = os.environ.get("VLFORGE_CHROMIUM", "/usr/bin/chromium")
T = TypeVar("T")


class BrowserError(RuntimeError):
    """Chromium is missing or failed; the message says which binary and what to install."""


@dataclass(frozen=True)
class Viewport:
    """A CSS viewport and its device pixel ratio: screenshots are ``width * dpr`` x ``height * dpr``."""

    width: int
    height: int
    device_scale_factor: float = 1.0

    @property
    def pixel_size(self) -> tuple[int, int]:
        return round(self.width * self.device_scale_factor), round(self.height * self.device_scale_factor)


PHONE = Viewport(360, 800, 3.0)  # 1080x2400, the Qwen cookbooks' phone screenshots
DESKTOP = Viewport(1280, 800, 1.0)
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


def chromium_available(binary: str = CHROMIUM) -> str | None:
    """None when Chromium and Playwright can run, else why not (for a test's skip reason)."""
    if not Path(binary).is_file():
        return f"{binary} not found (Debian package chromium; make setup)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements.txt)"
    return None


class Browser:
    """A context manager holding one Chromium; ``open`` gives a fresh, isolated page per render."""

    def __init__(self, binary: str = CHROMIUM) -> None:
        self.binary = binary
        self.chromium_seconds = 0.0
        self._playwright: Any = None
        self._browser: Any = None
        # one context per device pixel ratio (a context property); each render gets its own page
        self._contexts: dict[float, Any] = {}

    def __enter__(self) -> Browser:
        missing = chromium_available(self.binary)
        if missing:
            raise BrowserError(missing)
        from playwright.sync_api import sync_playwright

        with self.timed():
            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(executable_path=self.binary, args=["--no-sandbox"])
            except Exception as error:
                self._playwright.stop()
                raise BrowserError(f"cannot launch {self.binary}: {error}") from error
        return self

    def __exit__(self, *exc: object) -> None:
        with self.timed():
            for context in self._contexts.values():
                context.close()
            self._contexts.clear()
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()
        self._browser = self._playwright = None

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.chromium_seconds += time.perf_counter() - start

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.timed():
            return function(*args, **kwargs)

    def open(self, html: str, viewport: Viewport) -> Page:
        """A new page showing ``html``: a fresh document, so no DOM, focus or scroll state leaks between renders.

        Pages share a context per device pixel ratio (creating a context costs about as much as the
        render); the templates use no cookies or storage that could carry over.
        """
        if self._browser is None:
            raise BrowserError("Browser.open called outside 'with Browser() as browser'")
        with self.timed():
            context = self._contexts.get(viewport.device_scale_factor)
            if context is None:
                context = self._browser.new_context(
                    viewport={"width": viewport.width, "height": viewport.height},
                    device_scale_factor=viewport.device_scale_factor,
                    reduced_motion="reduce",
                )
                self._contexts[viewport.device_scale_factor] = context
            page = context.new_page()
            page.set_viewport_size({"width": viewport.width, "height": viewport.height})
            page.set_content(html, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
        return Page(self, context, page, viewport)


class Page:
    """One rendered page; coordinates going in and out are screenshot pixels (CSS px times the DPR)."""

    def __init__(self, browser: Browser, context: Any, page: Any, viewport: Viewport) -> None:
        self.browser = browser
        self.viewport = viewport
        self._context = context
        self._page = page
        self._cdp: Any = None

    @property
    def scale(self) -> float:
        return self.viewport.device_scale_factor

    def evaluate(self, script: str, argument: Any = None) -> Any:
        return self.browser.call(self._page.evaluate, script, argument)

    def resize(self, viewport: Viewport) -> None:
        self.browser.call(self._page.set_viewport_size, {"width": viewport.width, "height": viewport.height})
        self.viewport = viewport

    def screenshot(self) -> np.ndarray:
        """The viewport as an HxWx3 uint8 array (caret hidden, animations stopped)."""
        png = self.browser.call(self._page.screenshot, caret="hide", animations="disabled")
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def cdp(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A Chrome DevTools Protocol call on this page (e.g. ``CSS.getPlatformFontsForNode``)."""
        if self._cdp is None:
            self._cdp = self.browser.call(self._context.new_cdp_session, self._page)
        return self.browser.call(self._cdp.send, method, params or {})

    def click(self, x: float, y: float) -> None:
        self.browser.call(self._page.mouse.click, x / self.scale, y / self.scale)

    def type(self, text: str) -> None:
        self.browser.call(self._page.keyboard.type, text)

    def wheel(self, x: float, y: float, delta_y: float) -> None:
        """Scroll by ``delta_y`` CSS px with the pointer at screenshot pixel ``(x, y)``."""
        self.browser.call(self._page.mouse.move, x / self.scale, y / self.scale)
        self.browser.call(self._page.mouse.wheel, 0, delta_y)
        # wheel scrolling is asynchronous: wait until the page has painted the scrolled frame
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")

    def pdf(self) -> bytes:
        return self.browser.call(self._page.pdf, prefer_css_page_size=True, print_background=True)

    def close(self) -> None:
        if self._cdp is not None:
            self.browser.call(self._cdp.detach)
        self.browser.call(self._page.close)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an HxWx3 uint8 array, with fixed encoder settings so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
