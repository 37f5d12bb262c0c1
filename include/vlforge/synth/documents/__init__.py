"""Synthetic documents: Jinja2 page templates in English and Simplified Chinese, rendered in Chromium.

``DocumentGenerator`` follows the augment op contract: ``sample(rng)`` draws every parameter of a
page (template fields, palette, font) as JSON, ``render(browser, params)`` is deterministic, and the
params go into the sample's lineage so that a replay renders the same bytes.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from vlforge.synth.browser import Browser
from vlforge.synth.documents.fill import LABELS, TEMPLATES, draw_fields
from vlforge.synth.documents.render import RenderedDocument, render_document

TEMPLATE_DIR = Path(__file__).parent / "templates"
# CSS px; pages are rendered at DEVICE_SCALE_FACTOR screenshot pixels per CSS px.
PAGE_WIDTHS = {"receipt": 480, "invoice": 800, "form": 720, "table": 800, "article": 860, "sign": 600}
DEVICE_SCALE_FACTOR = 2.0
TESSERACT_LANGUAGES = {"en": ("eng",), "zh": ("chi_sim", "eng")}


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render_html(template: str, params: dict[str, Any], source: str | None = None) -> str:
    """The page's HTML: the named template (or a template ``source`` extending ``base.html.j2``) filled with ``params``."""
    environment = _environment()
    compiled = environment.from_string(source) if source is not None else environment.get_template(f"{template}.html.j2")
    language = params["language"]
    return compiled.render(language=language, t=LABELS[language], f=params["fields"], **params["style"])


class DocumentGenerator:
    """Pages of one template in one language."""

    name = "synth.document"

    def __init__(self, template: str, language: str, items: tuple[str, ...] | None = None) -> None:
        if template not in TEMPLATES:
            raise ValueError(f"unknown document template {template!r}; known templates: {', '.join(TEMPLATES)}")
        self.template = template
        self.language = language
        self.items = items

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Every parameter of one page, JSON-able; the only randomness."""
        drawn = draw_fields(self.template, self.language, rng, self.items)
        return {
            "template": self.template,
            "language": self.language,
            "width": PAGE_WIDTHS[self.template],
            "device_scale_factor": DEVICE_SCALE_FACTOR,
            **drawn,
        }

    def render(self, browser: Browser, params: dict[str, Any]) -> RenderedDocument:
        """The page for ``params`` (deterministic)."""
        html = render_html(params["template"], params)
        return render_document(browser, html, int(params["width"]), float(params["device_scale_factor"]))
