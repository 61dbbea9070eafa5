"""The HTTP answer every emulator endpoint returns, and its JSON and error envelopes.

Shared by the API dispatcher (``api``) and the admin endpoints (``admin``), so neither
imports the other for it. Errors become Huawei's body shape here, and only here
(docs/api-notes.md §4.1): ``{"error_msg", "error_code", "request_id"}`` plus the
``X-Request-Id`` header the SDK reads the request id from (§4.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ApiError

JSON = "application/json"


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False  # close the connection without replying (lost-response fault)


def json_response(status: int, payload: Any, request_id: str) -> WireResponse:
    body = b"" if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"X-Request-Id": request_id}
    if payload is not None:
        headers["Content-Type"] = JSON
    return WireResponse(status, headers, body)


def error_response(error: ApiError, request_id: str) -> WireResponse:
    payload = {"error_msg": error.message, "error_code": error.code, "request_id": request_id}
    response = json_response(error.status, payload, request_id)
    response.headers.update(error.extra_headers)
    return response
