"""Benchmarks for elb-mtls-deploy: one command, one table per benchmark, a summary.

    .venv/bin/python bench/run.py              # full run (~4-5 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick      # smaller spec, fewer repeats
    .venv/bin/python bench/run.py --only requests,startup

Every figure is a ratio against a baseline measured in the same run on the same machine.
Traffic stays on 127.0.0.1 (an in-process emulator); HOME is a temp dir; certificates and
keys are generated at run time in temp dirs and deleted afterwards. See
docs/performance.md for the latest results and what bounds each figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Table, deploy, make_hermetic, verdict

BENCHMARKS = ("requests", "apply", "provisioning", "embedded", "startup", "pki")


@dataclass
class Context:
    root: Path
    seed: int
    quick: bool
    latency_ms: int
    repeats: int
    startup_repeats: int
    clients: int
    example: object = None
    large: object = None
    provisioning_members: int | None = None
    provisioning_spec: object = None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = _selected(args.only)
    with tempfile.TemporaryDirectory(prefix="elb-bench-") as name:
        root = Path(name)
        make_hermetic(root)  # before anything imports the SDK
        ctx = Context(
            root=root,
            seed=args.seed,
            quick=args.quick,
            latency_ms=args.latency_ms,
            repeats=1 if args.quick else 3,
            startup_repeats=5 if args.quick else 15,
            clients=20 if args.quick else 100,
        )
        return _run(ctx, only, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 members, 20 clients, fewer repeats"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"one of {', '.join(BENCHMARKS)} (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=8,
        help="seed for generated addresses and emulator faults (default 8)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=50,
        help="added latency per request for apply (default 50)",
    )
    parser.add_argument(
        "--members", type=int, help="members in the large spec (default 1000, --quick 200)"
    )
    parser.add_argument(
        "--provisioning-members",
        type=int,
        help="members in the provisioning bench's spec (default 200: the Terraform-like "
        "baseline makes one change per member)",
    )
    parser.add_argument(
        "--emulator-nodelay",
        action="store_true",
        help="experiment: set TCP_NODELAY on the emulator's HTTP handler (a proposed product fix)",
    )
    return parser


def _selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    return [n for n in BENCHMARKS if n in names]


def _run(ctx: Context, only: list[str], args: argparse.Namespace) -> int:
    import emulated
    import specs

    if args.emulator_nodelay:
        emulated.force_nodelay()
    started = time.perf_counter()
    print(_machine(ctx, args, emulated.nodelay()), flush=True)
    ctx.example = specs.example_spec(ctx.root)
    members = args.members or (200 if ctx.quick else 1000)
    ctx.large = specs.large_spec(ctx.root, listeners=20, members=members, seed=ctx.seed)
    for spec in (ctx.example, ctx.large):
        deploy(["certs", str(spec.path)])
        print(f"spec {spec.describe()}", flush=True)
    tables: list[Table] = []
    ctx.provisioning_members = args.provisioning_members
    for name in only:
        module = __import__(f"bench_{name}")
        if hasattr(module, "prepare"):
            module.prepare(ctx)
        began = time.perf_counter()
        table = module.run(ctx)
        table.notes.append(f"benchmark time {time.perf_counter() - began:.1f} s")
        tables.append(table)
        print("\n" + table.render(), flush=True)
    print("\n" + _summary(tables, time.perf_counter() - started), flush=True)
    return 0


def _machine(ctx: Context, args: argparse.Namespace, nodelay: bool) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    mode = "quick" if ctx.quick else "full"
    return "\n".join(
        [
            f"elb-mtls-deploy benchmarks ({mode}, seed {ctx.seed})",
            f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}",
            f"python {platform.python_version()} ({sys.executable}); {openssl}",
            f"emulator: in-process on 127.0.0.1, TCP_NODELAY {'on' if nodelay else 'off'}"
            + (
                " (forced by --emulator-nodelay: an experiment, not the shipped emulator)"
                if args.emulator_nodelay
                else ""
            ),
        ]
    )


def _summary(tables: list[Table], elapsed: float) -> str:
    summary = Table("Summary: targets", ["target", "goal", "measured", "verdict"])
    for table in tables:
        for target in table.targets:
            summary.add(target.name, target.goal, target.measured, verdict(target.met))
    summary.notes.append(f"total run time {elapsed:.0f} s")
    return summary.render()


if __name__ == "__main__":
    sys.exit(main())
