"""Shared helpers for the benchmarks: a hermetic environment, timing, tables.

Nothing here talks to the network; every benchmark keeps its traffic on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"

_CLOUD_ENV = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HW_ACCESS_KEY",
    "HW_SECRET_KEY",
    "HW_REGION_NAME",
    "HW_PROJECT_ID",
)


def make_hermetic(root: Path) -> None:
    """HOME in a temp dir (the SDK writes ~/.huaweicloud on import), loopback bypasses any
    proxy, and no real cloud credentials can leak in. Call before importing the SDK."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    os.environ["NO_COLOR"] = "1"
    for name in _CLOUD_ENV:
        os.environ.pop(name, None)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"elb-bench-{prefix}-") as name:
        yield Path(name)


@dataclass(frozen=True)
class Timed:
    seconds: float
    value: Any


def timed(fn: Callable[[], Any]) -> Timed:
    started = time.perf_counter()
    value = fn()
    return Timed(time.perf_counter() - started, value)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quiet_main(argv: Sequence[str]) -> tuple[int, str, str]:
    """`deploy ARGV` in-process, output captured (the CLI prints progress per action)."""
    from elb_mtls_deploy.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def deploy(argv: Sequence[str]) -> str:
    """`deploy ARGV` in-process; a non-zero exit is a broken benchmark, never a figure."""
    code, out, err = quiet_main(argv)
    if code != 0:
        tail = "\n".join((out + err).splitlines()[-15:])
        raise RuntimeError(f"deploy {' '.join(argv)} exited {code}; last lines:\n{tail}")
    return out


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal from the issue, checked against a measured figure."""

    name: str
    goal: str
    measured: str
    met: bool


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            first, *rest = cells
            parts = [first.ljust(widths[0])]
            parts += [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
            return "  ".join(parts).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        out = [f"== {self.title}", line(self.columns), rule, *map(line, self.rows)]
        out += [f"  target: {t.goal} -> {t.measured}: {verdict(t.met)}" for t in self.targets]
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def ratio(value: float, baseline: float) -> str:
    """`value` as a multiple of the baseline, e.g. 0.05x or 12.3x."""
    if baseline == 0:
        return "n/a"
    r = value / baseline
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
