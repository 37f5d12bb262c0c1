"""The Jinja2 templates shared by the dashboard's pages and the static report."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from vlforge.quality.agreement import METRICS

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def templates() -> Environment:
    """The Jinja2 templates of the dashboard and of the static report (HTML autoescaped)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def render(name: str, **context: Any) -> str:
    return templates().get_template(name).render(metric_names=METRICS, **context)
