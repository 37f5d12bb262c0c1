"""Trend charts with Plotly: its JavaScript ships inside the plotly wheel, so charts render with no network.

Each chart is a ``<div>`` plus a script calling ``Plotly.newPlot``; the page loads
``plotly.min.js`` once (served by the dashboard, or written beside ``report.html``).
"""

from __future__ import annotations

from functools import cache

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from vlforge.views.pages import Trend, Trends

HELD_COLOUR = "#c62828"
REGRESSION_COLOUR = "#ef6c00"


@cache
def plotly_js() -> str:
    """``plotly.min.js`` from the installed wheel."""
    return get_plotlyjs()


def trend_figure(trends: Trends, trend: Trend) -> go.Figure:
    """One metric across versions: a line per series, the threshold as a dashed step, held and regressed releases marked."""
    figure = go.Figure()
    x = trends.versions
    for index, line in enumerate(trend.series):
        symbols = [
            "x" if status == "held" else "triangle-down" if regressed else "circle"
            for status, regressed in zip(trends.statuses, line.regressed, strict=True)
        ]
        colours = [
            HELD_COLOUR if status == "held" else REGRESSION_COLOUR if regressed else None
            for status, regressed in zip(trends.statuses, line.regressed, strict=True)
        ]
        hover = [
            f"{version} ({status}{', REGRESSION' if regressed else ''})<br>{trends.created[i]}"
            for i, (version, status, regressed) in enumerate(zip(x, trends.statuses, line.regressed, strict=True))
        ]
        marker: dict[str, object] = {"symbol": symbols, "size": [12 if symbol != "circle" else 7 for symbol in symbols]}
        if any(colours):
            marker["color"] = [colour or _palette(index) for colour in colours]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=line.values,
                name=line.name,
                mode="lines+markers",
                marker=marker,
                line={"color": _palette(index), "dash": "solid" if index == 0 else "dot"},
                text=hover,
                hovertemplate="%{y:.4f}<br>%{text}<extra>" + line.name + "</extra>",
                connectgaps=False,
            )
        )
    if any(value is not None for value in trend.threshold):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=trend.threshold,
                name=f"threshold ({'at least' if trend.threshold_kind == 'min' else 'at most'})",
                mode="lines",
                line={"color": HELD_COLOUR, "dash": "dash", "shape": "hvh"},
            )
        )
    figure.update_layout(
        title={"text": trend.title},
        height=320,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        xaxis={"type": "category", "title": {"text": "version (oldest first)"}},
        legend={"orientation": "h", "y": -0.25},
        template="plotly_white",
    )
    return figure


def trend_div(trends: Trends, trend: Trend) -> str:
    """The chart as an HTML fragment; needs ``plotly.min.js`` loaded before it."""
    return trend_figure(trends, trend).to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"trend-{trend.key}",
        config={"displaylogo": False, "responsive": True},
    )


_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2", "#ff7f0e", "#d62728")


def _palette(index: int) -> str:
    return _COLOURS[index % len(_COLOURS)]
