"""The fixes that make the tool behave on the real cloud, end to end through the SDK.

Each case is one the real API would break today's-era code on (docs/api-notes.md §10.3):
v3 on a shared load balancer, a pool replacement on a listener that keeps serving,
session persistence with server-filled defaults, and header switches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from elb_mtls_deploy.emulator.constants import SEEDED_SUBNET_ID
from tests.e2e.conftest import Stack, spec_text

pytestmark = pytest.mark.slow


def run_ok(stack: Stack, *args: str) -> str:
    code, out, err = stack.run(*args)
    assert code == 0, out + err
    return out


def converged(stack: Stack) -> None:
    """One apply pass, then a plan that shows nothing (exit 0 with --detailed-exitcode)."""
    out = run_ok(stack, "apply", str(stack.spec), "--auto-approve")
    assert "converging again" not in out, out
    code, out, err = stack.run("plan", str(stack.spec), "--detailed-exitcode")
    assert code == 0, out + err


def with_target(text: str, target: str) -> str:
    return text.replace("target: {kind: embedded}", target)


def test_api_v3_on_a_shared_lb_converges_without_replacing_the_listener(stack: Stack) -> None:
    text = spec_text(lb="emulator-shared-lb")
    stack.write(with_target(text, "target: {kind: embedded, api: v3}"))
    converged(stack)
    [listener] = stack.owned("listeners")
    assert listener["protocol"] == "TERMINATED_HTTPS"
    converged(stack)
    assert stack.owned("listeners")[0]["id"] == listener["id"]


POOL = """\
        pool:
          protocol: {protocol}
          session_persistence: {{type: HTTP_COOKIE}}
          health_monitor: {{type: HTTP, url_path: /healthz}}
          members:
            - {{address: 127.0.0.1, port: 19000}}
            - {{address: 127.0.0.1, port: 19001}}
"""


def pool_spec(protocol: str) -> str:
    text = spec_text()
    start = text.index("        pool:\n")
    return text[:start] + POOL.format(protocol=protocol)


@pytest.fixture
def pool_watch(stack: Stack) -> Iterator[list[str]]:
    """After every request the emulator answers: the owned listener's pool (or a gap)."""
    seen: list[str] = []
    emulator = stack.server.emulator
    real = emulator.handle

    def handle(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Any:
        response = real(method, target, headers, body)
        listeners = stack.owned("listeners")
        if listeners:
            seen.append(str(listeners[0].get("default_pool_id") or "NONE"))
        return response

    emulator.handle = handle  # type: ignore[method-assign]
    yield seen
    emulator.handle = real  # type: ignore[method-assign]


def test_pool_protocol_change_converges_and_the_listener_always_has_a_pool(
    stack: Stack, pool_watch: list[str]
) -> None:
    stack.write(pool_spec("HTTP"))
    converged(stack)
    [before] = stack.owned("pools")
    pool_watch.clear()
    stack.write(pool_spec("HTTPS"))
    _, out, _ = stack.run("plan", str(stack.spec))
    assert "# switch the listener to the new pool" in out
    assert "Plan: 4 to add, 1 to change, 4 to destroy." in out
    converged(stack)
    [after] = stack.owned("pools")
    assert after["protocol"] == "HTTPS" and after["id"] != before["id"]
    assert "NONE" not in pool_watch  # never a moment without a pool
    assert pool_watch[0] == before["id"] and pool_watch[-1] == after["id"]
    assert len(stack.cloud()["members"]) == 2


def test_session_persistence_plans_empty_after_apply(stack: Stack) -> None:
    stack.write(pool_spec("HTTP"))
    converged(stack)
    [pool] = stack.owned("pools")
    assert pool["session_persistence"]["type"] == "HTTP_COOKIE"


def test_a_header_switched_off_is_off_after_apply(stack: Stack) -> None:
    on = spec_text().replace(
        "        pool:\n",
        "        insert_headers: {forwarded_port: true, real_ip: true}\n        pool:\n",
    )
    stack.write(on)
    converged(stack)
    headers = stack.owned("listeners")[0]["insert_headers"]
    assert headers["X-Forwarded-Port"] is True and headers["X-Real-IP"] is True
    stack.write(on.replace(", real_ip: true", ""))
    converged(stack)
    headers = stack.owned("listeners")[0]["insert_headers"]
    assert headers["X-Forwarded-Port"] is True and not headers.get("X-Real-IP")
    assert headers.get("X-Forwarded-Host") is True  # the default, asked for explicitly


def test_shared_lb_members_need_a_subnet_before_any_change(stack: Stack) -> None:
    text = spec_text(lb="emulator-shared-lb").replace(f", subnet_id: {SEEDED_SUBNET_ID}", "", 1)
    stack.write(text)
    before = dict(stack.statuses())
    code, _, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1 and "needs a subnet_id" in err and "Traceback" not in err
    created = stack.statuses().get(201, 0) - before.get(201, 0)
    assert created == 0 and stack.owned("certificates") == []
