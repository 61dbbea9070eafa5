"""Apply from empty under added latency: ours (`deploy apply --auto-approve`, in-process)
vs a sequential one-call-per-resource script over the raw SDK, against the real-cloud bound
(the dependent round trips that remain when a load balancer takes one change at a time)."""

from __future__ import annotations

import time
from typing import Any

import emulated
from common import Table, Target, deploy, median, ratio, seconds, timed

TARGET_SPEEDUP = 10.0
TARGET_BOUND_RATIO = 2.0
# Reads the plan needs before the first write and after the last, if every independent
# call ran in parallel: (load balancer lookup | certificate list | pool list) then
# (listener list by LB id | health monitor list by id | member list by pool id).
OBSERVE_DEPTH = 2


def run(ctx: Any) -> Table:
    spec, latency = ctx.large, ctx.latency_ms
    waves = _plan_waves(ctx)
    depth = OBSERVE_DEPTH + waves + OBSERVE_DEPTH
    parallel_bound = depth * latency / 1000
    changes = _lb_changes(ctx)
    # Against the real cloud a load balancer takes one change at a time and must be seen
    # ACTIVE again before the next (docs/api-notes.md §10.3): the work that remains is the
    # observe, the certificate wave, and the chain change, poll, change, ... on the LB.
    serial = OBSERVE_DEPTH + 1 + changes + (changes - 1) + OBSERVE_DEPTH
    bound = serial * latency / 1000
    table = Table(
        f"Apply from empty, {spec.label}, {latency} ms added per request",
        ["run", "latency", "wall", "requests", "speed-up vs baseline", "wall / bound"],
    )
    baseline = _baseline(ctx)
    default = _ours(ctx, latency, [])
    wide = _ours(ctx, latency, ["--workers", "64"])
    floor = _ours(ctx, 0, [])
    table.add(
        "baseline: raw SDK, one call per resource, sequential",
        f"{latency} ms",
        seconds(baseline[0]),
        baseline[1],
        "1.00x",
        ratio(baseline[0], bound),
    )
    for label, (wall, count) in (
        ("ours: deploy apply --auto-approve (8 workers)", default),
        ("ours: deploy apply --auto-approve --workers 64", wide),
    ):
        table.add(
            label,
            f"{latency} ms",
            seconds(wall),
            count,
            ratio(baseline[0], wall),
            ratio(wall, bound),
        )
    table.add(
        "ours: deploy apply --auto-approve, no added latency",
        "0 ms",
        seconds(floor[0]),
        floor[1],
        "",
        "",
    )
    added = default[0] - floor[0]
    server_time = _server_seconds(ctx)
    remaining = default[0] - server_time
    table.add(
        "derived (approximate): ours (8 workers) minus the 0 ms row",
        f"{latency} ms",
        seconds(added),
        "",
        "",
        ratio(added, bound),
    )
    table.add(
        "ours (8 workers) minus the emulator's own server time",
        f"{latency} ms",
        seconds(remaining),
        "",
        "",
        ratio(remaining, bound),
    )
    table.add(
        f"real-cloud bound: {serial} dependent round trips x {latency} ms",
        f"{latency} ms",
        seconds(bound),
        "",
        ratio(baseline[0], bound),
        "1.00x",
    )
    table.add(
        f"old parallel bound (changes to one LB at once): depth {depth} x {latency} ms",
        f"{latency} ms",
        seconds(parallel_bound),
        "",
        "",
        ratio(parallel_bound, bound),
    )
    speedup = baseline[0] / default[0]
    table.targets += [
        Target(
            "apply speed-up",
            f">= {TARGET_SPEEDUP:.0f}x faster than the baseline (set before changes to one "
            "load balancer were serialised)",
            f"{speedup:.1f}x",
            speedup >= TARGET_SPEEDUP,
        ),
        Target(
            "apply vs real-cloud bound",
            f"<= {TARGET_BOUND_RATIO:.0f}x the real-cloud bound (emulator server time apart)",
            f"{remaining / bound:.2f}x",
            remaining / bound <= TARGET_BOUND_RATIO,
        ),
    ]
    table.notes += [
        f"the emulator's own server time for one apply (no added latency, summed over its "
        f"{floor[1]} requests): {seconds(server_time)}; against the real cloud that work is "
        "the cloud's, so ours minus it is what the bound is judged on",
        f"real-cloud bound: {OBSERVE_DEPTH} (observe before) + 1 (certificates, in parallel) "
        f"+ {changes} changes to the load balancer + {changes - 1} status polls between them "
        f"+ {OBSERVE_DEPTH} (observe after); the load balancer refuses a change while "
        "PENDING_UPDATE, so no client can overlap them (docs/api-notes.md §10.3)",
        f"the old bound (depth {depth} = {OBSERVE_DEPTH} + {waves} plan waves + "
        f"{OBSERVE_DEPTH}) assumed changes to one load balancer in parallel, which the real "
        "API refuses; the baseline script would also be refused there (it never waits for "
        "ACTIVE), so the 10x target no longer measures anything a user can have",
        f"latency added to ours: {seconds(added)} = {added * 1000 / latency:.1f} round trips of "
        f"{latency} ms (the rest, {seconds(floor[0])}, is the no-latency floor: spec load, "
        "certificate checks, SDK signing and the emulator's own work, measured in this run)",
        f"ours: median of {ctx.repeats} runs per row, each on a fresh emulator; baseline: one "
        "run (it is the long one)",
        "the derived row is approximate: the emulator's own work and the added latency overlap "
        "differently in the two rows, so it varies between runs",
    ]
    return table


def _plan_waves(ctx: Any) -> int:
    """How many dependent waves the plan for an empty cloud has (computed in-process: the
    saved plan's Terraform-shaped JSON does not carry waves)."""
    import os

    from elb_mtls_deploy import workflow

    loaded = workflow.load(ctx.large.path, os.environ)
    with (
        emulated.fresh_emulator(ctx.large.state_dir, seed=ctx.seed),
        workflow.connect(loaded, read_only=True) as conn,
    ):
        return len(workflow.make_plan(loaded, conn).plan.waves)


def _lb_changes(ctx: Any) -> int:
    """Changes to the load balancer in one apply from empty (from the emulator's counts)."""
    with emulated.fresh_emulator(ctx.large.state_dir, seed=ctx.seed) as server:
        deploy(["apply", str(ctx.large.path), "--auto-approve"])
        routes = server.emulator.stats.snapshot()["by_route"]
    return sum(
        count
        for route, count in routes.items()
        if route.split(" ", 1)[0] in ("POST", "PUT", "DELETE")
        and any(part in route for part in ("/listeners", "/pools", "/healthmonitors", "/members"))
    )


def _ours(
    ctx: Any, latency: int, extra: list[str], repeats: int | None = None
) -> tuple[float, int]:
    walls, counts = [], []
    for _ in range(repeats or ctx.repeats):
        with emulated.fresh_emulator(ctx.large.state_dir, latency, ctx.seed) as server:
            run = timed(lambda: deploy(["apply", str(ctx.large.path), "--auto-approve", *extra]))
            walls.append(run.seconds)
            counts.append(emulated.requests(server))
    return median(walls), int(median(counts))


def _server_seconds(ctx: Any) -> float:
    """The emulator's own time handling the requests of one apply with no added latency:
    work a real cloud does on its side, not ours (summed over requests, median of runs)."""
    import threading

    totals = []
    for _ in range(ctx.repeats):
        with emulated.fresh_emulator(ctx.large.state_dir, 0, ctx.seed) as server:
            emulator, lock, spent = server.emulator, threading.Lock(), [0.0]
            real = emulator.handle

            def handle(
                *args: Any, _real: Any = real, _lock: Any = lock, _spent: list[float] = spent
            ) -> Any:
                started = time.perf_counter()
                try:
                    return _real(*args)
                finally:
                    with _lock:
                        _spent[0] += time.perf_counter() - started

            emulator.handle = handle
            deploy(["apply", str(ctx.large.path), "--auto-approve"])
            totals.append(spent[0])
    return median(totals)


def _baseline(ctx: Any) -> tuple[float, int]:
    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID

    with emulated.fresh_emulator(ctx.large.state_dir, ctx.latency_ms, ctx.seed) as server:
        elb = emulated.client(server.endpoint)
        run = timed(lambda: emulated.create_one_by_one(elb, ctx.large, SEEDED_DEDICATED_LB_ID))
        count = emulated.requests(server)
    if count != run.value:
        raise RuntimeError("the emulator counted a different number of baseline requests")
    return run.seconds, count
