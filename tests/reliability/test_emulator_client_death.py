"""A client killed mid-request (the crash campaign's SIGKILL) is not an emulator error:
`deploy emulator serve` prints no traceback for a broken pipe or a reset connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from elb_mtls_deploy.emulator import start_server


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), ConnectionResetError()])
def test_a_vanished_client_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], error: OSError
) -> None:
    with start_server(tmp_path, dataplane=False) as server:
        try:
            raise error
        except OSError:
            server._server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""


def test_other_handler_errors_are_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with start_server(tmp_path, dataplane=False) as server:
        try:
            raise ValueError("a real bug")
        except ValueError:
            server._server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a real bug" in capsys.readouterr().err
