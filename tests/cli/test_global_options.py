"""Global options work before or after the subcommand, or are refused: never ignored."""

from __future__ import annotations

import json

import pytest

from elb_mtls_deploy.cli import _parser, main
from elb_mtls_deploy.cli_args import fill_globals
from tests.cli.conftest import Stack, spec_text


def parsed(*argv: str) -> dict[str, object]:
    parser = _parser()
    args = parser.parse_args(list(argv))
    fill_globals(parser, args)
    return {k: getattr(args, k) for k in ("debug", "output", "no_color", "retries")}


@pytest.mark.parametrize(
    "argv",
    [
        ("--output", "json", "--debug", "--retries", "0", "--no-color", "plan", "s.yaml"),
        ("plan", "s.yaml", "--output", "json", "--debug", "--retries", "0", "--no-color"),
        ("--output", "json", "--retries", "0", "plan", "--debug", "--no-color", "s.yaml"),
    ],
)
def test_before_or_after_the_subcommand_mean_the_same(argv: tuple[str, ...]) -> None:
    assert parsed(*argv) == {"debug": True, "output": "json", "no_color": True, "retries": 0}


def test_defaults_when_not_given() -> None:
    assert parsed("plan", "s.yaml") == {
        "debug": False,
        "output": "text",
        "no_color": False,
        "retries": 5,
    }


def test_after_wins_over_before() -> None:
    assert parsed("--output", "text", "plan", "s.yaml", "--output", "json")["output"] == "json"


@pytest.mark.parametrize(
    "argv",
    [
        ("--retries", "3", "schema"),
        ("schema", "--retries", "3"),
        ("--retry-timeout", "9", "validate", "s.yaml"),
        ("--retries", "3", "emulator", "state"),
    ],
)
def test_cloud_options_on_a_command_without_calls_are_refused(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 1
    assert "--retr" in capsys.readouterr().err


def test_emulator_subcommands_take_the_global_options() -> None:
    assert parsed("--output", "json", "emulator", "state")["output"] == "json"
    assert parsed("emulator", "state", "--output", "json", "--debug")["debug"] is True


def test_debug_before_the_subcommand_shows_the_traceback(workdir: object) -> None:
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "validate", "missing.yaml"])


@pytest.mark.slow
def test_output_json_before_and_after_print_the_same_plan(stack: Stack) -> None:
    stack.write(spec_text())
    code, before, err = stack.run("--output", "json", "plan", str(stack.spec))
    assert code == 0, err
    code, after, err = stack.run("plan", str(stack.spec), "--output", "json")
    assert code == 0, err
    assert json.loads(before) == json.loads(after)
    assert json.loads(before)["stack"] == "e2e"


def test_debug_decides_for_emulator_commands_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workdir: object
) -> None:
    import elb_mtls_deploy.emulator.cli as emulator_cli

    def broken(args: object) -> int:
        raise RuntimeError("boom")

    broken.__module__ = emulator_cli.__name__
    monkeypatch.setattr(emulator_cli, "cmd_state", broken)
    assert main(["emulator", "state"]) == 1
    assert "unexpected RuntimeError" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "emulator", "state"])


def test_an_error_is_a_json_document_too(
    workdir: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "missing.yaml", "--output", "json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["error"]["type"] == "SpecError"
    assert "missing.yaml: no such file" in document["error"]["message"]
    assert "error: missing.yaml: no such file" in captured.err


@pytest.mark.parametrize("where", [("--embedded",), ("--region", "cn-north-4")])
def test_import_reads_once_so_it_refuses_the_retry_options(
    where: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["import", "--loadbalancer", "lb", "--stack", "shop", "--out", "s.yaml", *where]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--retries", "3"])
    assert stopped.value.code == 1
    assert "unrecognized arguments: --retries 3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["--retry-timeout", "9", *argv])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "--retry-timeout applies only to plan, apply, destroy, verify, output" in err


def test_revoked_out_still_prints_its_document_with_output_json(stack: Stack) -> None:
    stack.write(spec_text())
    deny = stack.spec.parent / "deny.json"
    code, out, err = stack.run("revoked", str(stack.spec), "--out", str(deny), "--output", "json")
    assert code == 0, err
    assert json.loads(out) == json.loads(deny.read_text())
    assert json.loads(out)["entries"] == []
