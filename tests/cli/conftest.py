"""CLI fixtures: the end-to-end stack (a real emulator on 127.0.0.1 the CLI discovers)."""

from __future__ import annotations

from tests.e2e.conftest import Stack, spec_text, stack

__all__ = ["Stack", "spec_text", "stack"]
