"""Run the SDK against the emulator in-process: ``responses`` callbacks, no sockets.

``mount(rsps, emulator)`` registers a callback for every HTTP method on ``endpoint`` that
hands the request to ``Emulator.handle``. A lost-response fault becomes a
``requests.ConnectionError`` (what a dropped connection looks like to the SDK).
``responses`` is imported lazily: it is a test dependency only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .control.api import Emulator

DEFAULT_ENDPOINT = "http://127.0.0.1:9"
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")


def mount(rsps: Any, emulator: Emulator, endpoint: str = DEFAULT_ENDPOINT) -> None:
    """Route every request to ``endpoint`` on the ``responses.RequestsMock`` to ``emulator``."""
    import requests

    base = endpoint.rstrip("/")

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        response = emulator.handle(request.method, target, dict(request.headers), body)
        if response.drop:
            raise requests.ConnectionError("emulator dropped the connection (lost response)")
        return response.status, response.headers, response.body

    pattern = re.compile(re.escape(base) + r"(/.*)?$")
    for method in _METHODS:
        rsps.add_callback(method, pattern, callback=callback)
