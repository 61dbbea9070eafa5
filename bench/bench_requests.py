"""Requests for a no-op plan: ours (`deploy plan`) vs Terraform-style refresh (one GET per
resource, performed for real with the raw SDK), both counted at the emulator."""

from __future__ import annotations

from typing import Any

import emulated
from common import Table, Target, deploy, quiet_main, ratio, seconds, timed

TARGET_REQUESTS = 10


def run(ctx: Any) -> Table:
    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID

    table = Table(
        "Requests for a no-op plan (counted at the emulator; no added latency)",
        [
            "spec",
            "resources",
            "ours: requests",
            "one GET per resource",
            "ours / baseline",
            "ours: wall",
            "baseline: wall",
        ],
    )
    large_requests = None
    for spec in (ctx.example, ctx.large):
        with emulated.fresh_emulator(spec.state_dir, seed=ctx.seed) as server:
            deploy(["apply", str(spec.path), "--auto-approve"])
            server.emulator.stats.reset()
            ours = timed(
                lambda spec=spec: quiet_main(["plan", str(spec.path), "--detailed-exitcode"])
            )
            if ours.value[0] != 0:
                raise RuntimeError(f"the plan after apply is not empty for {spec.label}")
            ours_requests = emulated.requests(server)
            ids = emulated.owned_ids(server, spec.stack)
            server.emulator.stats.reset()
            base = timed(
                lambda e=server.endpoint, i=ids: emulated.refresh_one_by_one(
                    e, SEEDED_DEDICATED_LB_ID, i
                )
            )
            base_requests = emulated.requests(server)
        if base_requests != base.value:
            raise RuntimeError("the emulator counted a different number of baseline requests")
        table.add(
            spec.label,
            spec.resources,
            ours_requests,
            base_requests,
            ratio(ours_requests, base_requests),
            seconds(ours.seconds),
            seconds(base.seconds),
        )
        large_requests = ours_requests
    table.targets.append(
        Target(
            "no-op plan requests (large spec)",
            f"<= {TARGET_REQUESTS} requests",
            f"{large_requests}",
            large_requests is not None and large_requests <= TARGET_REQUESTS,
        )
    )
    table.notes += [
        "ours: one paged list call per kind (v3 limit 2000) plus the load balancer lookup; "
        "it grows with pages, not with resources",
        "baseline: the load balancer data source + one show call per certificate, listener, "
        f"pool, health monitor and member, {emulated.TERRAFORM_PARALLELISM} at a time "
        "(terraform's default -parallelism); ids come from the emulator's storage, as from "
        "a state file",
        "ours: wall includes loading the spec and checking the 41 local certificates "
        "(`deploy plan` in-process)",
    ]
    return table
