"""Request counters for ``GET /_emulator/stats``: a total and one per route template."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()

    def record(self, route_key: str, status: int) -> None:
        with self._lock:
            self._routes[route_key] += 1
            self._statuses[status] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._routes.values()),
                "by_route": dict(sorted(self._routes.items())),
                "by_status": {str(k): v for k, v in sorted(self._statuses.items())},
            }

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self._statuses.clear()
