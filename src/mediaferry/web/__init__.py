"""The web interface (DESIGN.md §8): REST API, live events, metrics and a small page.

::

    server.py   create_app(services) and start(services) for ``mediaferry run``
    api.py      /api/jobs…, /api/library…            (API key)
    sse.py      /api/events, one EventHub per app    (API key, also ?key=)
    metrics.py  /metrics, registry per app           (API key)
    health.py   /health                              (no key, no secrets)
    auth.py     Bearer key; loopback-only without one
    _http.py    JSON errors, 1 MB body limit
    static/     index.html, app.js, style.css (no build step)
"""

from __future__ import annotations

from mediaferry.web.server import WebServer, create_app, start

__all__ = ["WebServer", "create_app", "start"]
