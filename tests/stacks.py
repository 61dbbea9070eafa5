"""A stack under test: a spec file in a temp dir, an announced emulator that every CLI
command discovers (as with `deploy emulator serve`), and ways to look at the cloud."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, RunningServer
from elb_mtls_deploy.emulator.control.admin import state as emulator_state


@dataclass
class CliStack:
    root: Path
    server: RunningServer
    capsys: pytest.CaptureFixture[str]
    stack: ClassVar[str] = "e2e"

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    def write(self, text: str) -> Path:
        self.spec.write_text(textwrap.dedent(text))
        return self.spec

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def cloud(self) -> dict[str, Any]:
        return emulator_state(self.server.emulator)

    def owned(self, kind: str) -> list[dict[str, Any]]:
        prefix = f"{self.stack}-"
        return [r for r in self.cloud()[kind] if str(r.get("name") or "").startswith(prefix)]

    def sdk(self) -> Any:
        """A v3 client of the official SDK, to change the cloud behind the tool's back."""
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkelb.v3 import ElbClient

        return (
            ElbClient.new_builder()
            .with_credentials(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID))
            .with_endpoint(self.server.endpoint)
            .build()
        )
