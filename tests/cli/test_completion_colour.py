"""Shell completion (bash, and zsh through bashcompinit) and colour rules of the output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from elb_mtls_deploy.cli import _parser
from elb_mtls_deploy.completion import script
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.output import Out
from elb_mtls_deploy.render import render_text
from elb_mtls_deploy.state import Record, Ref, State


def complete(line: str, tmp_path: Path) -> list[str]:
    """COMPREPLY for the command line `line` (the cursor at its end) in a real bash."""
    words = line.split(" ")
    setup = tmp_path / "completion.bash"
    setup.write_text(script("bash", _parser()))
    array = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {setup}; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
        '_deploy_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program],
        capture_output=True, text=True, cwd=tmp_path, timeout=30, check=True,
    )  # fmt: skip
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("deploy pl", ["plan"]),
        ("deploy plan --det", ["--detailed-exitcode"]),
        ("deploy --output json plan --fail", ["--fail-on-expiry"]),
        ("deploy plan --output j", ["json"]),
        ("deploy emulator s", ["serve", "state"]),
        ("deploy emulator serve --no-d", ["--no-dataplane", "--no-demo-backends"]),
        ("deploy completion z", ["zsh"]),
        ("deploy apply --sp", ["--spec"]),
    ],
)
def test_bash_completes_commands_options_and_choices(
    line: str, expected: list[str], tmp_path: Path
) -> None:
    assert complete(line, tmp_path) == expected


def test_bash_completes_file_names_for_the_spec(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("")
    assert complete("deploy plan st", tmp_path) == ["stack.yaml"]
    assert complete("deploy schema st", tmp_path) == []  # schema takes no file


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads(tmp_path: Path) -> None:
    setup = tmp_path / "completion.zsh"
    setup.write_text(script("zsh", _parser()))
    subprocess.run(["zsh", "-f", "-c", f"source {setup}"], check=True, timeout=30)


def test_zsh_script_is_the_bash_function_behind_bashcompinit() -> None:
    text = script("zsh", _parser())
    assert text.startswith("#compdef deploy\n") and "bashcompinit" in text
    assert "complete -o filenames -F _deploy_complete deploy" in text


def plan_text(colour: bool) -> str:
    desired = State.of([Record("pool", Ref("pool", "web"), "s-web", {"protocol": "HTTP"})])
    return render_text(diff(desired, State(), "s", "v3"), colour, legend=True)


def test_colour_only_on_a_terminal_and_never_when_asked_not_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert Out(json_mode=False).colour is True
    assert Out(json_mode=False, no_color=True).colour is False
    assert Out(json_mode=True).colour is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert Out(json_mode=False).colour is False
    monkeypatch.setenv("NO_COLOR", "")  # https://no-color.org: set *and not empty*
    assert Out(json_mode=False).colour is True
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert Out(json_mode=False).colour is False
    assert "\x1b[32m" in plan_text(colour=True) and "\x1b[" not in plan_text(colour=False)
    assert plan_text(colour=False).rstrip().endswith("Symbols: + create.")
