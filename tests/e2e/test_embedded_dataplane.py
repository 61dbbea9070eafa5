"""The in-process emulator serves traffic only for commands that need it.

`deploy plan` of the large spec took 152 s because every command started the data plane
with a demo backend per member; only `verify` handshakes with the listener.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import elb_mtls_deploy.emulator.server as server_module
from elb_mtls_deploy.cli import main
from tests.e2e.conftest import spec_text

pytestmark = pytest.mark.slow


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = server_module.start_server

    def recording(state_dir: Path, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(state_dir, *args, **kwargs)

    monkeypatch.setattr(server_module, "start_server", recording)
    return calls


def test_plan_apply_destroy_start_no_data_plane_and_verify_does(
    workdir: Path, started: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = workdir / "spec.yaml"
    spec.write_text(textwrap.dedent(spec_text()))
    for command in (["plan"], ["apply", "--auto-approve"]):
        assert main([command[0], str(spec), *command[1:]]) == 0, capsys.readouterr()
    assert [call.get("dataplane") for call in started] == [False, False]
    main(["verify", str(spec)])
    assert started[-1].get("dataplane") is True
    assert main(["destroy", str(spec), "--auto-approve"]) == 0
    assert started[-1].get("dataplane") is False
