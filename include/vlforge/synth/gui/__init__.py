"""Synthetic GUI screens: login, settings, search, lists, dialogs, shopping, chat and maps, rendered in Chromium.

``ScreenGenerator`` follows the augment op contract: ``sample(rng)`` draws a screen's parameters
(template, language, theme, device, Faker fields) as JSON; opening a screen from them is
deterministic. ``screens`` reads interactive elements from the DOM; ``actions`` builds grounding,
action and trajectory samples and executes every action in the browser to verify it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from vlforge.synth.browser import VIEWPORTS, Browser, Page
from vlforge.synth.config import THEMES
from vlforge.synth.gui.fill import FONTS, LABELS, draw_screen_fields

TEMPLATE_DIR = Path(__file__).parent / "templates"
PICKS = 8


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render_screen_html(params: dict[str, Any]) -> str:
    """The screen's HTML from its params (``template``, ``language``, ``theme``, ``fields``)."""
    language = params["language"]
    template = _environment().get_template(f"{params['template']}.html.j2")
    return template.render(
        language=language, theme=params["theme"], font_family=FONTS[language], t=LABELS[language], f=params["fields"]
    )


def open_screen(browser: Browser, params: dict[str, Any]) -> Page:
    """A fresh page showing the screen, at its device's viewport."""
    return browser.open(render_screen_html(params), VIEWPORTS[params["device"]])


class ScreenGenerator:
    """Screens of one template on one device; language and theme are drawn from the allowed ones."""

    name = "synth.gui"

    def __init__(
        self,
        template: str,
        device: str,
        languages: tuple[str, ...] = ("en", "zh"),
        themes: tuple[str, ...] = THEMES,
        vocabulary: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        if device not in VIEWPORTS:
            raise ValueError(f"unknown GUI device {device!r}; known devices: {', '.join(VIEWPORTS)}")
        self.template = template
        self.device = device
        self.languages = languages
        self.themes = themes
        self.vocabulary = vocabulary or {}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Every parameter of one screen, JSON-able; the only randomness."""
        language = self.languages[int(rng.integers(0, len(self.languages)))]
        theme = self.themes[int(rng.integers(0, len(self.themes)))]
        return {
            "template": self.template,
            "device": self.device,
            "language": language,
            "theme": theme,
            "fields": draw_screen_fields(self.template, language, rng, self.vocabulary.get(language)),
            # which targets the grounding and action samples pick: index = int(pick * number of targets)
            "picks": [float(rng.random()) for _ in range(PICKS)],
        }
