"""Start-up: `deploy --help` and `deploy validate` as fresh processes vs `python -c pass`,
plus the import costs that explain them."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from common import VENV_BIN, Table, Target, median, ratio, seconds

TARGET_HELP_SECONDS = 0.2


def run(ctx: Any) -> Table:
    python, deploy = str(VENV_BIN / "python"), str(VENV_BIN / "deploy")
    commands = {
        "python -c pass (baseline)": [python, "-c", "pass"],
        "deploy --help": [deploy, "--help"],
        "deploy validate example.yaml": [deploy, "validate", str(ctx.example.path)],
        "  import elb_mtls_deploy.cli": [python, "-c", "import elb_mtls_deploy.cli"],
        "  import elb_mtls_deploy.emulator": [python, "-c", "import elb_mtls_deploy.emulator"],
        "  import huaweicloudsdkelb.v3": [python, "-c", "import huaweicloudsdkelb.v3"],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(ctx.startup_repeats):  # interleaved, so drift hits every command alike
        for name, argv in commands.items():
            walls[name].append(_wall(argv, ctx))
    base = median(walls["python -c pass (baseline)"])
    table = Table(
        f"Start-up (fresh process, median of {ctx.startup_repeats}, interleaved)",
        ["command", "median", "min", "vs python -c pass"],
    )
    for name, values in walls.items():
        table.add(name, seconds(median(values)), seconds(min(values)), ratio(median(values), base))
    help_ = median(walls["deploy --help"])
    table.targets.append(
        Target(
            "deploy --help",
            f"< {TARGET_HELP_SECONDS} s",
            seconds(help_),
            help_ < TARGET_HELP_SECONDS,
        )
    )
    table.notes += [
        "indented rows are diagnostics (what each import costs), not commands users run",
        "validate runs on a copy of config/example.yaml whose certificates were issued "
        "first, so it parses the spec and lints every certificate",
    ]
    return table


def _wall(argv: list[str], ctx: Any) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ctx.root)
    return time.perf_counter() - started
