"""Approval on a terminal: only "yes" applies; any other answer, or end of input, cancels
with nothing changed (never "unexpected EOFError; this is a bug")."""

from __future__ import annotations

import json
import sys

import pytest

from tests.cli.conftest import Stack, spec_text


def answering(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> None:
    def reply(prompt: str) -> str:
        if answer is None:
            raise EOFError
        return answer

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", reply)


@pytest.mark.parametrize("answer", [None, "y", "no"])
def test_anything_but_yes_cancels_and_changes_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, answer: str | None
) -> None:
    stack.write(spec_text())
    answering(monkeypatch, answer)
    code, out, err = stack.run("apply", str(stack.spec), "--output", "json")
    assert code == 1, err
    assert "apply cancelled; nothing was changed" in err and "unexpected" not in err
    document = json.loads(out)
    assert document["status"] == "cancelled"
    assert all(row["outcome"] == "unchanged" for row in document["resources"])


def test_yes_applies(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.write(spec_text())
    answering(monkeypatch, " yes ")
    code, out, err = stack.run("apply", str(stack.spec))
    assert code == 0, out + err
    assert "Apply complete" in out
