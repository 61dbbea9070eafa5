"""Run the reliability campaigns and print a table plus one final line of figures.

    .venv/bin/python bench/reliability/run.py                      # all four, full size
    .venv/bin/python bench/reliability/run.py faults --rounds 100 --seed 7
    .venv/bin/python bench/reliability/run.py crashes --rounds 30 --seed 7 --json out.json
    .venv/bin/python bench/reliability/run.py faults --spec large --seed 7 --workers 1
    .venv/bin/python bench/reliability/run.py proxy --rounds 50 --seed 7   # faults on the wire

Everything stays on 127.0.0.1; HOME is a temp dir; certificates are issued at run time
into the temp dir and deleted with it. Exit 0 only if every round is clean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FULL = {"faults": 100, "crashes": 30, "concurrency": 10, "proxy": 50}


def hermetic(root: Path) -> None:
    """Before the SDK is imported: HOME in a temp dir, no proxy for loopback, no real keys."""
    home = root / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    os.environ["NO_COLOR"] = "1"
    for name in list(os.environ):
        if name.startswith(("HUAWEICLOUD_SDK_", "HW_")):
            del os.environ[name]


def row(result: object) -> str:
    from campaigns import FAULT_KINDS, PROXY_FAULTS, Round

    assert isinstance(result, Round)
    kinds = PROXY_FAULTS if result.campaign == "proxy" else FAULT_KINDS
    faults = " ".join(f"{result.faults.get(k, 0)}" for k in kinds)
    f = result.findings
    verdict = "ok" if result.ok else "FAIL"
    extra = result.kill or ""
    return (
        f"{result.campaign:<11} {result.spec:<7} {result.index:>3} {result.seed:>20} "
        f"{','.join(map(str, result.codes)):<10} {result.requests:>5} {faults:<16} "
        f"{result.adopted:>3} {result.passes:>2} {len(f.duplicates):>3} {len(f.orphans):>3} "
        f"{len(f.missing):>3} {'yes' if result.plan_empty else 'NO':<5} {result.seconds:6.1f} "
        f"{verdict:<4} {result.change[:40]}  {extra}"
        + (f"\n      {result.detail}" if result.detail and not result.ok else "")
        + (f"\n      {f.duplicates + f.orphans + f.missing}" if not f.clean else "")
        + (f"\n      LEAKED: {result.leaks}" if result.leaks else "")
    )


HEADER = (
    f"{'campaign':<11} {'spec':<7} {'#':>3} {'round seed':>20} {'exits':<10} {'reqs':>5} "
    f"{'500 503 429 busy lost':<16} {'adp':>3} {'ps':>2} {'dup':>3} {'orp':>3} {'mis':>3} "
    f"{'plan0':<5} {'secs':>6} {'':<4} change  kill\n"
    "(proxy rows: the fault columns are timeout cut junk retry-after kill)"
)


def summary(name: str, results: Sequence[object]) -> str:
    from campaigns import FAULT_KINDS, Round

    rs = [r for r in results if isinstance(r, Round) and r.campaign == name]
    if not rs:
        return ""
    dups = sum(len(r.findings.duplicates) for r in rs)
    orphans = sum(len(r.findings.orphans) for r in rs)
    missing = sum(len(r.findings.missing) for r in rs)
    empty = sum(r.plan_empty for r in rs)
    converged = sum(r.converged for r in rs)
    per_spec = Counter(r.spec for r in rs)
    specs = " + ".join(f"{n} {k}" for k, n in per_spec.items())
    text = f"{name}: {len(rs)} rounds ({specs}), converged {converged}/{len(rs)}, "
    if name == "faults":
        requests = sum(r.requests for r in rs)
        faults: Counter[str] = Counter()
        for r in rs:
            faults.update(r.faults)
        injected = sum(faults[k] for k in FAULT_KINDS)
        mix = ", ".join(f"{k} {faults[k]}" for k in FAULT_KINDS)
        reruns = Counter(r.reruns for r in rs)
        text += (
            f"{injected}/{requests} requests faulted ({100 * injected / max(1, requests):.1f}%: "
            f"{mix}), re-runs {dict(sorted(reruns.items()))}, "
            f"extra passes {sum(r.passes for r in rs)}, adoptions {sum(r.adopted for r in rs)}, "
        )
    elif name == "crashes":
        killed = sum(1 for r in rs if r.codes and r.codes[0] == -9)
        text += f"killed mid-run {killed}/{len(rs)}, "
    elif name == "proxy":
        from campaigns import PROXY_FAULTS

        requests = sum(r.requests for r in rs)
        wire: Counter[str] = Counter()
        for r in rs:
            wire.update(r.faults)
        injected = sum(wire[k] for k in PROXY_FAULTS if k != "kill")
        mix = ", ".join(f"{k} {wire[k]}" for k in PROXY_FAULTS if k != "kill")
        reruns = Counter(r.reruns for r in rs)
        text += (
            f"{injected}/{requests} requests faulted on the wire "
            f"({100 * injected / max(1, requests):.1f}%: {mix}), emulator restarted in "
            f"{wire['kill']} rounds, re-runs {dict(sorted(reruns.items()))}, "
            f"extra passes {sum(r.passes for r in rs)}, adoptions {sum(r.adopted for r in rs)}, "
            f"creates in doubt {sum(r.in_doubt for r in rs)}, "
            f"secret leaks {sum(len(r.leaks) for r in rs)}, "
        )
    else:
        outcomes = Counter("+".join(map(str, sorted(r.codes))) for r in rs)
        text += f"exit codes {dict(outcomes)}, "
    text += f"duplicates {dups}, orphans {orphans}, missing {missing}, "
    text += f"final plans empty {empty}/{len(rs)}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("campaign", nargs="?", default="all",
                        choices=("all", "faults", "crashes", "concurrency", "proxy"))  # fmt: skip
    parser.add_argument("--rounds", type=int, help="rounds (faults: per spec)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--spec", choices=("both", "example", "large"), default="both")
    parser.add_argument("--workers", type=int, default=8, help="faults: apply --workers")
    parser.add_argument("--retry-after", type=int, default=1, help="faults: Retry-After on 429")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="proxy: settle window after a create in doubt (0 = off)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write every round as JSON")
    args = parser.parse_args(argv)
    kinds = ["example", "large"] if args.spec == "both" else [args.spec]
    names = list(FULL) if args.campaign == "all" else [args.campaign]
    with tempfile.TemporaryDirectory(prefix="elb-reliability-") as tmp:
        root = Path(tmp)
        hermetic(root)
        import campaigns

        results: list[campaigns.Round] = []
        print(HEADER, flush=True)
        started = time.monotonic()
        for name in names:
            rounds = args.rounds or FULL[name]
            out = root / name
            out.mkdir()

            def report(result: campaigns.Round) -> None:
                print(row(result), flush=True)

            if name == "faults":
                results += campaigns.fault_campaign(
                    out, kinds, rounds, args.seed, workers=args.workers,
                    retry_after=args.retry_after, report=report,
                )  # fmt: skip
            elif name == "crashes":
                results += campaigns.crash_campaign(out, kinds, rounds, args.seed, report=report)
            elif name == "proxy":
                results += campaigns.proxy_campaign(
                    out, kinds, rounds, args.seed, workers=args.workers,
                    settle_seconds=args.settle, report=report,
                )  # fmt: skip
            else:
                results += campaigns.concurrency_campaign(
                    out, kinds, rounds, args.seed, report=report
                )
    elapsed = time.monotonic() - started
    lines = [summary(name, results) for name in names]
    print(f"\nseed {args.seed}, {elapsed:.0f}s")
    for line in lines:
        print(line)
    bad = [r for r in results if not r.ok]
    print(f"RESULT: {len(results) - len(bad)}/{len(results)} rounds clean; " + "; ".join(lines))
    if args.json:
        args.json.write_text(json.dumps([_jsonable(r) for r in results], indent=1))
    return 1 if bad else 0


def _jsonable(result: object) -> dict[str, object]:
    from campaigns import Round

    assert isinstance(result, Round)
    f = result.findings
    return {
        "campaign": result.campaign, "spec": result.spec, "round": result.index,
        "seed": result.seed, "change": result.change, "exit_codes": result.codes,
        "reruns": result.reruns, "converged": result.converged, "requests": result.requests,
        "faults": dict(result.faults), "adopted": result.adopted, "passes": result.passes,
        "kill": result.kill, "duplicates": f.duplicates, "orphans": f.orphans,
        "missing": f.missing, "plan_empty": result.plan_empty, "seconds": result.seconds,
        "detail": result.detail, "leaks": result.leaks, "in_doubt": result.in_doubt,
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
