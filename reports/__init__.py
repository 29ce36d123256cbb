"""RobustEdge reports: the server-side HTML page and its charts.

The text formats (JSON, Markdown, JUnit, terminal summary) and the gate
language live in the client distribution (``robustedge.client.render`` and
``robustedge.client.gates``) so that a CI pipeline can use them without
matplotlib; the HTML page is rendered here because its charts need matplotlib.
"""

from robustedge.reports.html import render_html

__all__ = ["render_html"]
