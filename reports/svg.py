"""Matplotlib figures as inline SVG fragments for a self-contained HTML page.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``)
and written by the SVG backend, never through ``pyplot``: pyplot keeps global
figure state and picks a GUI backend, neither of which a server wants.

The SVG that matplotlib writes is a standalone XML document. Inlined into
HTML it needs none of its XML prologue, DOCTYPE (which names a URL on w3.org),
RDF metadata (more URLs) or namespace declarations (HTML's parser puts inline
``<svg>`` and ``xlink:href`` in the right namespaces by itself). They are
stripped so that the page names no external URL at all, not even as an inert
namespace string.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure

__all__ = ["figure_to_svg", "new_figure"]

# rcParams are process-global; rendering holds this lock so that two reports
# rendered by two server threads never see each other's settings.
_LOCK = threading.RLock()

_STYLE: dict[str, Any] = {
    # Text stays text: smaller files, selectable labels, the page's own fonts.
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
}

# A palette that stays distinguishable for the common colour-vision
# deficiencies (Okabe & Ito, 2008); `base` always gets the first colour.
PALETTE = (
    "#222222",
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
)


def variant_colors(names: list[str]) -> dict[str, str]:
    """A stable colour per variant, in report order (base first)."""
    unique = list(dict.fromkeys(names))
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(unique)}


@contextmanager
def new_figure(width: float, height: float, *, chart_id: str) -> Iterator[Figure]:
    """A figure under the report style; ``chart_id`` also salts matplotlib's
    hashed ids so that the output is deterministic for a given chart."""
    with _LOCK, matplotlib.rc_context(cast(Any, {**_STYLE, "svg.hashsalt": chart_id})):
        figure = Figure(figsize=(width, height), layout="constrained")
        yield figure


_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def figure_to_svg(figure: Figure, *, chart_id: str, title: str) -> str:
    """The figure as an ``<svg>`` element for inlining, with an accessible title.

    Every id in the SVG (matplotlib writes ``figure_1``, ``axes_1``... in every
    chart) is prefixed with ``chart_id`` so that ids stay unique in the page.
    """
    buffer = io.StringIO()
    # No metadata: the creator, date and rdf namespaces are URLs and noise.
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                   "Type": None})  # fmt: skip
    svg = buffer.getvalue()
    svg = _PROLOGUE.sub("", svg, count=1)
    svg = _METADATA.sub("", svg)
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace(' id="', f' id="{chart_id}-')
    svg = svg.replace("url(#", f"url(#{chart_id}-")
    svg = svg.replace('href="#', f'href="#{chart_id}-')
    # Width and height in pt make the chart fixed-size; let CSS scale it.
    svg = re.sub(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"\1", svg, count=1)
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    svg = re.sub(
        r"(<svg\b[^>]*)>",
        rf'\1 role="img" aria-label="{escaped}"><title>{escaped}</title>',
        svg,
        count=1,
    )
    return svg.strip()
