"""The emulator as a pure dispatcher: ``Emulator.handle(method, target, headers, body)``.

Order per API request: count it, inject faults (latency, error statuses), answer a path
with no API as the gateway does (``APIGW.0101``, before any signature check), verify the
signature and project, run the handler in one SQLite transaction with the request's
``LbGuard`` (busy load balancers refused, changed ones marked PENDING_UPDATE before the
commit), feed the data plane after a successful change, and turn errors into their wire
envelope (``wire``) only here, at the edge (docs/api-notes.md §4.4, §10.2). Paths under
``/_emulator/`` go to ``admin`` instead. Transport (the HTTP server, the ``responses``
mount) lives a level up; this module never touches sockets.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from ..constants import DB_FILENAME, DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from . import admin, routes, signing
from .exceptions import ApiError, InternalError, NoSuchRoute, ProjectMismatch
from .faults import FaultConfig, FaultInjector
from .feed import DataPlaneFeed
from .handlers import ApiRequest
from .models import Models
from .provisioning import LbGuard, Provisioning
from .seed import seed
from .stats import Stats
from .store import Store
from .wire import WireResponse, error_response, json_response

log = logging.getLogger(__name__)


def _split_query(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw_query.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote(key), unquote(value)))  # never '+' as space (§6.2 item 3)
    return pairs


class Emulator:
    """Huawei Cloud ELB v2/v3 control plane over SQLite at ``<state_dir>/emulator.db``."""

    def __init__(
        self,
        state_dir: Path,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        faults: FaultConfig | None = None,
        dataplane: bool = True,
        demo_backends: bool = True,
        clock: Callable[[], datetime] | None = None,
        provisioning_ms: int = 0,
        quotas: Mapping[str, int] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.credentials = dict(credentials or {DEMO_AK: (DEMO_SK, DEMO_PROJECT_ID)})
        self.clock = clock or (lambda: datetime.now(UTC))
        self.store = Store(self.state_dir / DB_FILENAME)
        seed(self.store, sorted({p for _, p in self.credentials.values()}), self.clock())
        self.faults = FaultInjector(faults or FaultConfig())
        self.provisioning = Provisioning(provisioning_ms)
        # kind ("listener", "pool", "member", ...) -> most records per project; none by
        # default. Real quotas vary by account; this lets tests reach 409 ELB.8905.
        self.quotas = dict(quotas or {})
        self.stats = Stats()
        self.feed = DataPlaneFeed(self.store, enabled=dataplane, demo_backends=demo_backends)
        self.feed.sync()

    def close(self) -> None:
        self.feed.close()
        self.store.close()

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> WireResponse:
        method = method.upper()
        request_id = uuid.uuid4().hex
        path = target.partition("?")[0]
        if path.startswith(admin.PREFIX):
            return admin.handle(self, method, path, body, request_id)
        matched = routes.match(method, path)
        route_key = f"{method} {matched[0].template}" if matched else f"{method} (no route)"
        try:
            response, lost = self._api(method, target, headers, body, request_id, matched)
        except ApiError as error:
            response, lost = error_response(error, request_id), False
        except Exception:
            log.exception("emulator bug while handling %s %s", method, path)
            response, lost = error_response(InternalError("Internal error."), request_id), False
        self.stats.record(route_key, response.status)
        response.drop = lost
        return response

    def _api(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
        matched: tuple[routes.Route, dict[str, str]] | None,
    ) -> tuple[WireResponse, bool]:
        decision = self.faults.decide(method)
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if decision.error is not None:
            raise decision.error
        if matched is None:
            raise NoSuchRoute()  # the gateway answers before it checks the signature
        access_key = signing.verify(method, target, headers, body, self._secret_for, self.clock())
        route, params = matched
        project_id = self.credentials[access_key][1]
        if params.get("project_id") != project_id:
            raise ProjectMismatch(
                "Incorrect IAM authentication information: the project id in the URL does "
                "not belong to this access key"
            )
        request = ApiRequest(
            method=method,
            path=target.partition("?")[0],
            query=_split_query(target.partition("?")[2]),
            body=body,
            params=params,
            version=route.version,
            project_id=project_id,
            request_id=request_id,
        )
        # The injected busy fault refuses like the provisioning model: on the owning LB.
        guard = LbGuard(self.provisioning, forced_busy=decision.busy and route.mutating)
        with self.store.transaction(write=route.mutating) as tx:
            models = Models(tx, project_id, self.clock(), guard, self.quotas)
            status, payload = route.handler(request, models)
            guard.commit()  # inside the transaction: no writer slips in before the mark
        if route.mutating:
            self.feed.sync()
        return json_response(status, payload, request_id), decision.lost

    def _secret_for(self, access_key: str) -> str | None:
        entry = self.credentials.get(access_key)
        return entry[0] if entry else None
