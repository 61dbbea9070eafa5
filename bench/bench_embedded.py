"""The embedded target exactly as a user runs it: `deploy plan` of the large spec as a fresh
process that starts its own in-process emulator over the spec's state directory, against
the same command with a `deploy emulator serve` already running (the baseline: the same
plan, without the emulator's start-up). `plan` serves no traffic, so it must not start the
data plane (a demo backend per member cost 152 s here before)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import VENV_BIN, Table, Target, deploy, median, ratio, seconds

TARGET_RATIO = 2.0


def run(ctx: Any) -> Table:
    spec = ctx.large
    shutil.rmtree(spec.state_dir, ignore_errors=True)
    deploy(["apply", str(spec.path), "--auto-approve"])  # in-process, as the user's first run
    repeats = max(3, ctx.repeats)
    embedded = [_timed_plan(spec.path) for _ in range(repeats)]
    with _served(spec.state_dir):
        served = [_timed_plan(spec.path) for _ in range(repeats)]
    table = Table(
        f"deploy plan of {spec.label} as a fresh process (median of {repeats})",
        ["run", "wall", "vs running server"],
    )
    base = median(served)
    table.add("baseline: deploy emulator serve running, deploy plan", seconds(base), "1.00x")
    table.add(
        "embedded: deploy plan starts its own emulator (as users run it)",
        seconds(median(embedded)),
        ratio(median(embedded), base),
    )
    table.targets.append(
        Target(
            "embedded plan",
            f"<= {TARGET_RATIO:.0f}x the plan against a running emulator",
            f"{median(embedded) / base:.2f}x",
            median(embedded) / base <= TARGET_RATIO,
        )
    )
    table.notes.append(
        "both rows exit 0 with no changes; the embedded row pays the emulator's start-up "
        "(SQLite open, seeding check) but no data plane and no demo backends"
    )
    return table


def _timed_plan(spec: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "deploy"), "plan", str(spec), "--detailed-exitcode"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"deploy plan exited {done.returncode}: {done.stderr[-800:]}")
    return time.perf_counter() - started


@contextlib.contextmanager
def _served(state_dir: Path) -> Iterator[None]:
    server = subprocess.Popen(
        [str(VENV_BIN / "deploy"), "emulator", "serve", "--state-dir", str(state_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 60
        announced = state_dir / "server.json"
        while not announced.exists() or not _json(announced):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("deploy emulator serve did not announce itself")
            time.sleep(0.05)
        yield
    finally:
        server.terminate()
        server.wait(timeout=60)


def _json(path: Path) -> Any:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text())
    return None


def _env() -> dict[str, str]:
    return dict(os.environ)
