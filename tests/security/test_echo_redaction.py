"""A gateway that echoes fragments of the request body (issue 14 item 4): every line of
the private key sent with a certificate create is redacted from stderr and from
`--output json`, not only whole PEM blocks. Driven end to end: `deploy apply` through the
SDK against a loopback emulator whose answer to certificate creates is a 400 quoting
lines of the uploaded key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import RunningServer, start_server
from elb_mtls_deploy.emulator.control.wire import WireResponse

pytestmark = pytest.mark.slow

SPEC = """\
stack: echo
target: {{kind: embedded, state_dir: {state}}}
certificates:
  cas:
    - {{name: root, subject: {{common_name: Root CA}}}}
  servers:
    - {{name: web, issuer: root, subject: {{common_name: www.test.com}}, dns_names: [www.test.com]}}
listeners:
  - name: web
    loadbalancer: {{name: emulator-dedicated-lb}}
    server_certificate: web
    client_ca: root
    pool: {{members: [{{address: 127.0.0.1, port: 8080}}]}}
"""


@pytest.fixture
def echoing(tmp_path: Path) -> Iterator[tuple[RunningServer, list[str]]]:
    state = tmp_path / "state"
    state.mkdir()
    sent: list[str] = []  # the key lines the client really sent
    with start_server(state, announce=True, dataplane=False) as server:
        original = server.emulator.handle

        def handle(method: str, target: str, headers: Any, body: bytes) -> Any:
            if method == "POST" and target.split("?")[0].endswith("/certificates"):
                key = json.loads(body)["certificate"].get("private_key") or ""
                lines = [ln for ln in key.splitlines() if ln and not ln.startswith("-----")]
                if lines:
                    sent.extend(lines)
                    echo = f"invalid private_key near '{lines[1]}' ... '{lines[-1]}'"
                    payload = {"error_code": "ELB.8902", "error_msg": echo, "request_id": "r"}
                    return WireResponse(400, {}, json.dumps(payload).encode())
            return original(method, target, headers, body)

        server.emulator.handle = handle  # type: ignore[method-assign]
        yield server, sent


@pytest.mark.parametrize("output", ["text", "json"])
def test_echoed_key_lines_never_reach_stderr_or_json(
    tmp_path: Path,
    echoing: tuple[RunningServer, list[str]],
    capsys: pytest.CaptureFixture[str],
    output: str,
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(state=tmp_path / "state"))
    code = main(["apply", str(spec), "--auto-approve", "--output", output, "--retries", "0"])
    captured = capsys.readouterr()
    _, sent = echoing
    assert code == 1 and sent, captured.err
    everything = captured.out + captured.err
    assert "invalid private_key near" in everything  # the error itself is reported
    assert "[redacted]" in everything
    leaked = [line for line in sent if len(line) >= 16 and line in everything]
    assert leaked == []
