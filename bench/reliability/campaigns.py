"""The reliability campaigns: faults, crashes (SIGKILL), concurrent writers, and faults on
the wire (a fault-injecting proxy, `proxy.py`, with the emulator killed and restarted).

Each campaign runs against a real emulator on 127.0.0.1 served by *this* process and
announced over the spec's state directory, so every `deploy` command — in-process through
`cli.main`, or a `python -m elb_mtls_deploy` subprocess — talks to it through the official
SDK over HTTP. After every round the faults are switched off and the emulator's state is
audited independently (`audit.py`): duplicates, orphans, missing resources; then a fresh
`deploy plan --detailed-exitcode` must exit 0 (empty plan).

Seeds: a campaign seed S gives every round its own seed (`round_seed`), which picks the
spec change, the added latency, the fault RNG seed and the kill moment. Thread interleaving
(`--workers` > 1) can reorder requests, so fault draws replay exactly only with
`--workers 1`; the spec changes and kill moments always replay.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit import Findings, audit
from campaign_specs import Doc, example_base, large_base, variant, write
from proxy import PROXY_FAULTS, FaultProxy, ProxyFaults, Upstream

from elb_mtls_deploy import cli
from elb_mtls_deploy.emulator import DEMO_SK, FaultConfig, RunningServer, start_server
from elb_mtls_deploy.emulator.control.admin import state as emulator_state
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.workflow import session

FAULT_KINDS = ("500", "503", "429", "busy", "lost")
MAX_RERUNS = 3
RETRY_ARGS = ("--retries", "6", "--retry-timeout", "30")


def round_seed(seed: int, *parts: object) -> int:
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def campaign_faults(seed: int, retry_after: int, latency_ms: int) -> FaultConfig:
    """About 20% of requests faulted: 5% 500, 4% 503, 5% 429 (Retry-After), 4% lost
    responses, 4% busy-LB 409 (writes only, so GETs see 18% and writes 22%)."""
    return FaultConfig(
        latency_ms=latency_ms,
        error_500_rate=0.05,
        error_503_rate=0.04,
        error_429_rate=0.05,
        retry_after_seconds=retry_after,
        lost_response_rate=0.04,
        busy_rate=0.04,
        seed=seed,
    )


@dataclass
class Round:
    campaign: str
    spec: str
    index: int
    seed: int
    change: str
    codes: list[int] = field(default_factory=list)
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    adopted: int = 0
    passes: int = 0  # extra converge passes inside apply ("the cloud changed during apply")
    kill: str = ""
    findings: Findings = field(default_factory=Findings)
    plan_empty: bool = False
    seconds: float = 0.0
    detail: str = ""
    leaks: list[str] = field(default_factory=list)  # secrets found in any output
    in_doubt: int = 0  # creates re-sent after no reply (settle window used)

    @property
    def reruns(self) -> int:
        return max(0, len(self.codes) - 1)

    @property
    def converged(self) -> bool:
        if self.campaign == "concurrency":
            # Both writers finish; one may stop with a clear message instead of converging.
            return 0 in self.codes and "Traceback" not in self.detail
        return bool(self.codes) and self.codes[-1] == 0

    @property
    def ok(self) -> bool:
        return self.converged and self.findings.clean and self.plan_empty and not self.leaks


# --- instrumentation ----------------------------------------------------------------------

_ADOPTED: list[str] = []
_IN_DOUBT: list[str] = []


class _CountingCloud(ResilientCloud):
    def create(self, *args: Any, **kwargs: Any) -> str:
        before, doubted = len(self.adopted), len(self.in_doubt)
        try:
            return super().create(*args, **kwargs)
        finally:
            _ADOPTED.extend(self.adopted[before:])
            _IN_DOUBT.extend(self.in_doubt[doubted:])


@contextlib.contextmanager
def instrumented(base_seconds: float = 0.02, settle_seconds: float = 15.0) -> Iterator[None]:
    """Short back-offs for in-process commands (the policy is otherwise the CLI's:
    `--retries`, `--retry-timeout`, Retry-After honoured) and adoption counting."""

    def policy(args: Any) -> RetryPolicy:
        return RetryPolicy(
            attempts=args.retries + 1,
            base_seconds=base_seconds,
            cap_seconds=1.0,
            total_seconds=args.retry_timeout,
            settle_seconds=settle_seconds,
        )

    saved = cli._policy, session.ResilientCloud
    cli._policy, session.ResilientCloud = policy, _CountingCloud  # type: ignore[misc]
    try:
        yield
    finally:
        cli._policy, session.ResilientCloud = saved  # type: ignore[misc]


class FaultCounter:
    """Counts every API request the emulator sees and which fault it drew."""

    def __init__(self, server: RunningServer) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        injector = server.emulator.faults
        original = injector.decide

        def decide(method: str) -> Any:
            decision = original(method)
            kind = (
                str(decision.error.status)
                if decision.error is not None
                else "busy"
                if decision.busy
                else "lost"
                if decision.lost
                else ""
            )
            with self._lock:
                self.counts["requests"] += 1
                if kind:
                    self.counts[kind] += 1
            return decision

        injector.decide = decide  # type: ignore[method-assign]

    def take(self) -> Counter[str]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    except SystemExit as exc:  # argparse: a campaign bug, not a product failure
        raise RuntimeError(f"deploy {' '.join(args)}: {err.getvalue()}") from exc
    return code, out.getvalue(), err.getvalue()


# --- a stack under test -------------------------------------------------------------------


class Stage:
    """One spec kind's emulator (announced over its state dir), spec file and base document."""

    def __init__(self, root: Path, kind: str) -> None:
        self.kind = kind
        self.root = root / kind
        state_dir = self.root / "state"
        state_dir.mkdir(parents=True)
        self.base: Doc = example_base(state_dir) if kind == "example" else large_base(state_dir)
        self.stack: str = self.base["stack"]
        self.spec = self.root / "spec.yaml"
        write(self.base, self.spec)
        self.server = start_server(state_dir, announce=True, dataplane=False)
        self.counter = FaultCounter(self.server)

    def close(self) -> None:
        self.server.close()

    def faults(self, config: FaultConfig | None) -> None:
        self.server.emulator.faults.configure(config or FaultConfig())

    def check(self, result: Round, doc: Doc | None) -> None:
        """Faults off, then the independent audit and an empty fresh plan."""
        self.faults(None)
        result.findings = audit(emulator_state(self.server.emulator), doc, self.stack)
        if doc is None:
            result.plan_empty = result.findings.clean
            return
        code, out, err = run_cli("plan", str(self.spec), "--detailed-exitcode")
        result.plan_empty = code == 0
        if code != 0:
            result.detail += f" final plan exit {code}: {_tail(out + err)}"


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def stages(root: Path, kinds: list[str]) -> Iterator[dict[str, Stage]]:
    opened: dict[str, Stage] = {}
    try:
        for kind in kinds:
            opened[kind] = Stage(root, kind)
        yield opened
    finally:
        for stage in opened.values():
            stage.close()


def _change(
    stage: Stage, rng: random.Random, index: int, destroy_every: int
) -> tuple[Doc | None, str]:
    """Round 0 creates the base; every `destroy_every`-th round destroys; else a variant."""
    if index == 0:
        return stage.base, "create"
    if destroy_every and index % destroy_every == destroy_every - 1:
        return None, "destroy"
    doc, names = variant(stage.base, rng)
    return doc, "+".join(names)


# --- faults -------------------------------------------------------------------------------


def fault_campaign(
    root: Path,
    kinds: list[str],
    rounds: int,
    seed: int,
    *,
    workers: int = 8,
    retry_after: int = 1,
    destroy_every: int = 10,
    report: Callable[[Round], None] = lambda r: None,
) -> list[Round]:
    """`rounds` applies per spec kind under ~20% faults, each starting from the previous
    round's cloud with a spec change (every `destroy_every`-th round is a destroy)."""
    results: list[Round] = []
    with instrumented(), stages(root, kinds) as opened:
        for stage in opened.values():
            for index in range(rounds):
                result = _fault_round(stage, seed, index, workers, retry_after, destroy_every)
                results.append(result)
                report(result)
    return results


def _fault_round(
    stage: Stage, seed: int, index: int, workers: int, retry_after: int, destroy_every: int
) -> Round:
    rseed = round_seed(seed, "faults", stage.kind, index)
    rng = random.Random(rseed)
    doc, change = _change(stage, rng, index, destroy_every)
    if doc is not None:
        write(doc, stage.spec)
    result = Round("faults", stage.kind, index, rseed, change)
    latency = rng.choice([0, 2, 10, 30])
    stage.faults(campaign_faults(rseed, retry_after, latency))
    command = "destroy" if doc is None else "apply"
    args = [command, str(stage.spec), "--auto-approve", *RETRY_ARGS]
    if command == "apply":
        args += ["--workers", str(workers)]
    started = time.monotonic()
    _ADOPTED.clear()
    stage.counter.take()
    for _ in range(1 + MAX_RERUNS):
        code, out, err = run_cli(*args)
        result.codes.append(code)
        result.passes += out.count("converging again")
        if code == 0:
            break
        result.detail += f" run {len(result.codes)} exit {code}: {_tail(err, 3)};"
    result.seconds = time.monotonic() - started
    counts = stage.counter.take()
    result.requests = counts.pop("requests", 0)
    result.faults = counts
    result.adopted = len(_ADOPTED)
    stage.check(result, doc)
    return result


# --- crashes ------------------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _deploy(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "elb_mtls_deploy", *args],
        cwd=cwd,
        env=_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class KillSwitch:
    """Kill a child with SIGKILL from inside the emulator when its n-th API request arrives:
    `drop` kills it and never processes the request; `commit` processes the request
    (the change lands) and kills the client before it hears back."""

    def __init__(self, server: RunningServer) -> None:
        self.emulator = server.emulator
        self.original = server.emulator.handle
        self.lock = threading.Lock()
        self.arm(None, 0, "")

    def arm(self, pid: int | None, nth: int, mode: str) -> None:
        with self.lock:
            self.pid, self.nth, self.mode, self.seen, self.fired = pid, nth, mode, 0, ""
        self.emulator.handle = self._handle  # type: ignore[method-assign]

    def disarm(self) -> None:
        self.emulator.handle = self.original  # type: ignore[method-assign]

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> Any:
        if target.startswith("/_emulator/") or self.pid is None:
            return self.original(method, target, headers, body)
        with self.lock:
            self.seen += 1
            fire = self.seen == self.nth and not self.fired
            if fire:
                self.fired = f"{self.mode} at request {self.nth} ({method} {target.split('?')[0]})"
        if fire and self.mode == "drop":
            self._kill()
            from elb_mtls_deploy.emulator.control.wire import WireResponse

            return WireResponse(500, drop=True)
        response = self.original(method, target, headers, body)
        if fire:
            self._kill()
        return response

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(self.pid or 0), signal.SIGKILL)


def crash_campaign(
    root: Path,
    kinds: list[str],
    rounds: int,
    seed: int,
    *,
    latency_ms: int = 5,
    report: Callable[[Round], None] = lambda r: None,
) -> list[Round]:
    """Per round: a `deploy apply` (every 5th: `destroy`) subprocess of a changed spec,
    SIGKILLed at a random moment — a random wall-clock time (startup, certificate issue or
    the API phase), or inside its n-th API request (before or after the change lands);
    then one in-process `deploy apply` must converge with no duplicates and no orphans."""
    results: list[Round] = []
    with instrumented(), stages(root, kinds) as opened:
        switches = {kind: KillSwitch(stage.server) for kind, stage in opened.items()}
        budgets = {kind: _calibrate(stage) for kind, stage in opened.items()}
        for index in range(rounds):
            kind = kinds[index % len(kinds)]
            stage = opened[kind]
            result = _crash_round(stage, switches[kind], budgets[kind], seed, index, latency_ms)
            results.append(result)
            report(result)
    return results


def _calibrate(stage: Stage) -> tuple[float, int]:
    """Seconds and API requests of one unkilled subprocess apply of the base spec (which
    also leaves the base stack in place for round 0 to change)."""
    stage.counter.take()
    started = time.monotonic()
    child = _deploy("apply", str(stage.spec), "--auto-approve", cwd=stage.root)
    _, err = child.communicate(timeout=300)
    if child.returncode != 0:
        raise RuntimeError(f"calibration apply failed: {err.decode()[-2000:]}")
    return time.monotonic() - started, max(1, stage.counter.take()["requests"])


def _crash_round(
    stage: Stage,
    switch: KillSwitch,
    budget: tuple[float, int],
    seed: int,
    index: int,
    latency_ms: int,
) -> Round:
    rseed = round_seed(seed, "crashes", stage.kind, index)
    rng = random.Random(rseed)
    doc, change = variant(stage.base, rng)
    destroy = index % 5 == 4
    change = "destroy" if destroy else "+".join(change)
    write(doc, stage.spec)
    result = Round("crashes", stage.kind, index, rseed, change)
    stage.faults(FaultConfig(latency_ms=latency_ms))
    seconds, requests = budget
    mode = rng.choice(["time", "drop", "commit"])
    started = time.monotonic()
    child = _deploy("destroy" if destroy else "apply", str(stage.spec), "--auto-approve",
                    cwd=stage.root)  # fmt: skip
    if mode == "time":
        switch.arm(None, 0, "")
        delay = rng.uniform(0.0, seconds * 1.1)
        try:
            child.wait(timeout=delay)
            result.kill = f"time {delay:.2f}s: finished first"
        except subprocess.TimeoutExpired:
            child.kill()
            result.kill = f"time {delay:.2f}s"
    else:
        nth = rng.randint(1, requests + 3)
        switch.arm(child.pid, nth, mode)
    child.communicate(timeout=300)
    switch.disarm()
    if mode != "time":
        result.kill = switch.fired or f"{mode} at request {switch.nth}: finished first"
    result.codes.append(child.returncode)  # -9 when killed
    stage.faults(None)
    stage.counter.take()
    code, out, err = run_cli("apply", str(stage.spec), "--auto-approve", *RETRY_ARGS)
    result.codes.append(code)
    result.passes = out.count("converging again")
    if code != 0:
        result.detail = _tail(out + err)
    result.requests = stage.counter.take()["requests"]
    result.seconds = time.monotonic() - started
    stage.check(result, doc)
    return result


# --- concurrency --------------------------------------------------------------------------


def concurrency_campaign(
    root: Path,
    kinds: list[str],
    rounds: int,
    seed: int,
    *,
    latency_ms: int = 5,
    fresh_every: int = 3,
    report: Callable[[Round], None] = lambda r: None,
) -> list[Round]:
    """Per round: two `deploy apply` subprocesses of the same stack and spec started
    together. Every `fresh_every`-th round (per kind) starts from an empty cloud (the race
    on creates), the others from the previous round's cloud with a spec change."""
    results: list[Round] = []
    with instrumented(), stages(root, kinds) as opened:
        for index in range(rounds):
            kind = kinds[index % len(kinds)]
            result = _concurrent_round(
                opened[kind], seed, index, index // len(kinds), latency_ms, fresh_every
            )
            results.append(result)
            report(result)
    return results


def _concurrent_round(
    stage: Stage, seed: int, index: int, local: int, latency_ms: int, fresh_every: int
) -> Round:
    rseed = round_seed(seed, "concurrency", stage.kind, index)
    rng = random.Random(rseed)
    fresh = local % fresh_every == 0
    if fresh:
        stage.faults(None)
        code, out, err = run_cli("destroy", str(stage.spec), "--auto-approve")
        if code != 0:
            raise RuntimeError(f"destroy before a fresh round failed: {_tail(out + err)}")
        doc, change = stage.base, "fresh create"
    else:
        doc, names = variant(stage.base, rng)
        change = "+".join(names)
    write(doc, stage.spec)
    result = Round("concurrency", stage.kind, index, rseed, change)
    stage.faults(FaultConfig(latency_ms=latency_ms))
    stage.counter.take()
    started = time.monotonic()
    children = [
        _deploy("apply", str(stage.spec), "--auto-approve", cwd=stage.root) for _ in range(2)
    ]
    outputs = [child.communicate(timeout=600) for child in children]
    result.seconds = time.monotonic() - started
    result.requests = stage.counter.take()["requests"]
    for child, (out, err) in zip(children, outputs, strict=True):
        result.codes.append(child.returncode)
        result.passes += out.decode().count("converging again")
        if child.returncode != 0:
            result.detail += f" [{child.returncode}] {_tail(err.decode(), 4)}"
    result.kill = "+".join(str(c) for c in result.codes)  # both exit codes
    stage.check(result, doc)
    return result


# --- faults on the wire: the proxy campaign ---------------------------------------------------

PROXY_RETRY_ARGS = ("--retries", "6", "--retry-timeout", "8")


@contextlib.contextmanager
def read_timeout(seconds: float) -> Iterator[None]:
    """In-process commands build their SDK client with this read timeout (the proxy holds
    a `timeout` request just past it), instead of the default 60 s."""
    from elb_mtls_deploy.cloud import sdk

    original = sdk.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = (2.0, seconds)
        return original(*args, **kwargs)

    sdk.connect = connect  # type: ignore[assignment]
    try:
        yield
    finally:
        sdk.connect = original  # type: ignore[assignment]


class ProxiedStage(Stage):
    """A stage whose emulator sits behind `FaultProxy`; the state dir announces the proxy,
    so every `deploy` command goes SDK -> proxy -> emulator. `restart` kills the emulator
    (connections in flight die with it) and starts a new one over the same state."""

    def __init__(self, root: Path, kind: str, faults: ProxyFaults) -> None:
        self.kind = kind
        self.root = root / kind
        self.state_dir = self.root / "state"
        self.state_dir.mkdir(parents=True)
        make = example_base if kind == "example" else large_base
        self.base = make(self.state_dir)
        self.stack = self.base["stack"]
        self.spec = self.root / "spec.yaml"
        write(self.base, self.spec)
        self.server = start_server(self.state_dir, dataplane=False)
        self.upstream = Upstream(self.server.port)
        self.proxy = FaultProxy(self.upstream, faults)
        announcement = {"pid": os.getpid(), "endpoint": self.proxy.endpoint}
        (self.state_dir / "server.json").write_text(json.dumps(announcement))
        self.restarts = 0

    def close(self) -> None:
        self.proxy.close()
        self.server.close()

    def faults(self, config: FaultConfig | None) -> None:
        if config is None:
            self.proxy.configure(ProxyFaults(0, 0, 0, 0))
        self.server.emulator.faults.configure(config or FaultConfig())

    def restart(self, down: float) -> None:
        port = self.server.port
        self.upstream.set(None)
        self.server.close()
        time.sleep(down)
        self.server = start_server(self.state_dir, port=port, dataplane=False)
        self.upstream.set(self.server.port)
        self.restarts += 1


def secret_lines(stage: Stage) -> dict[str, str]:
    """Canaries: every base64 line (>= 16 chars) of every key in the stage's PKI dir, and
    the emulator's SK (what the SDK signs with)."""
    found = {"SK": DEMO_SK}
    for key in sorted((stage.root / "pki").rglob("*.key")):
        for i, line in enumerate(key.read_text().splitlines()):
            if len(line) >= 16 and not line.startswith("-----"):
                found[f"{key.name} line {i + 1}"] = line
    return found


def proxy_campaign(
    root: Path,
    kinds: list[str],
    rounds: int,
    seed: int,
    *,
    workers: int = 8,
    destroy_every: int = 10,
    kill_rate: float = 0.5,
    rates: ProxyFaults | None = None,
    settle_seconds: float = 3.0,
    report: Callable[[Round], None] = lambda r: None,
) -> list[Round]:
    """`rounds` applies per spec kind through the fault-injecting proxy (read timeouts
    that commit late, cut replies, junk list bodies, Retry-After abuse) with the emulator
    killed and restarted mid-round in `kill_rate` of the rounds; every output is scanned
    for the keys' lines and the SK. `settle_seconds` (RetryPolicy): 3 s covers the proxy's
    latest commit (read timeout + `late_max` after the send); 0 shows what it prevents."""
    results: list[Round] = []
    base = dataclasses.replace(rates or ProxyFaults(), seed=seed)
    with instrumented(settle_seconds=settle_seconds), read_timeout(base.read_timeout):
        opened = {kind: ProxiedStage(root, kind, base) for kind in kinds}
        try:
            for stage in opened.values():
                for index in range(rounds):
                    result = _proxy_round(stage, base, index, workers, destroy_every, kill_rate)
                    results.append(result)
                    report(result)
        finally:
            for stage in opened.values():
                stage.close()
    return results


def _proxy_round(
    stage: ProxiedStage,
    rates: ProxyFaults,
    index: int,
    workers: int,
    destroy_every: int,
    kill_rate: float,
) -> Round:
    rseed = round_seed(rates.seed, "proxy", stage.kind, index)
    rng = random.Random(rseed)
    doc, change = _change(stage, rng, index, destroy_every)
    if doc is not None:
        write(doc, stage.spec)
    result = Round("proxy", stage.kind, index, rseed, change)
    stage.proxy.configure(dataclasses.replace(rates, seed=rseed))
    command = "destroy" if doc is None else "apply"
    args = [command, str(stage.spec), "--auto-approve", *PROXY_RETRY_ARGS]
    if command == "apply":
        args += ["--workers", str(workers), "--output", rng.choice(["text", "json"])]
    killer = None
    if rng.random() < kill_rate:
        at, down = rng.uniform(0.1, 3.0), rng.uniform(0.1, 1.0)
        killer = threading.Timer(at, stage.restart, args=(down,))
        killer.start()
    outputs: list[str] = []
    started = time.monotonic()
    _ADOPTED.clear()
    _IN_DOUBT.clear()
    stage.proxy.take()
    for _ in range(1 + MAX_RERUNS):
        code, out, err = run_cli(*args)
        outputs.append(out + err)
        result.codes.append(code)
        result.passes += out.count("converging again")
        if code == 0:
            break
        result.detail += f" run {len(result.codes)} exit {code}: {_tail(err, 3)};"
    if killer is not None:
        killer.join()
        result.faults["kill"] = 1
        result.kill = "emulator restarted"
    result.seconds = time.monotonic() - started
    counts = stage.proxy.take()
    result.requests = counts.pop("requests", 0)
    result.faults.update(counts)
    result.adopted = len(_ADOPTED)
    result.in_doubt = len(_IN_DOUBT)
    stage.check(result, doc)
    canaries = secret_lines(stage)
    result.leaks = sorted(
        {label for text in outputs for label, line in canaries.items() if line in text}
    )
    for text in outputs:
        if "this is a bug" in text or "Traceback" in text:
            result.detail += " [unexpected error in output]"
            result.codes.append(99)
    return result


__all__ = ["PROXY_FAULTS", "proxy_campaign"]
