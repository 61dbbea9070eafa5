"""Apply from empty under the provisioning model: after each change the load balancer is
PENDING_UPDATE for `busy` ms and refuses the next change (docs/api-notes.md §10.3).

Ours (`deploy apply --auto-approve`: one change at a time per load balancer, a short poll
for ACTIVE between them, members in batches) against a Terraform-like apply over the raw
SDK (one resource per member, 10 in parallel, busy 409s retried with backoff), and against
the serialized bound: the changes the load balancer must take one after another x busy.
"""

from __future__ import annotations

from typing import Any

import emulated
import terraform_like
from common import Table, Target, deploy, ratio, seconds, timed

BUSY_MS = 200
TARGET_SPEEDUP = 5.0
TARGET_BOUND = 1.5
_LB_ROUTES = ("/listeners", "/pools", "/healthmonitors", "/members")


def run(ctx: Any) -> Table:
    spec = ctx.provisioning_spec
    table = Table(
        f"Apply from empty under the provisioning model ({BUSY_MS} ms busy after each change), "
        f"{spec.label}",
        ["run", "wall", "requests", "LB changes", "busy 409s", "vs Terraform-like", "wall / bound"],
    )
    ours = _ours(ctx, spec)
    tf = _terraform_like(ctx, spec)
    bound = ours["changes"] * BUSY_MS / 1000
    tf_bound = tf["changes"] * BUSY_MS / 1000
    table.add(
        "Terraform-like: raw SDK, one resource per member, 10 parallel, 409 retried",
        seconds(tf["wall"]),
        tf["requests"],
        tf["changes"],
        tf["refused"],
        "1.00x",
        ratio(tf["wall"], bound),
    )
    table.add(
        "ours: deploy apply --auto-approve",
        seconds(ours["wall"]),
        ours["requests"],
        ours["changes"],
        ours["refused"],
        ratio(tf["wall"], ours["wall"]),
        ratio(ours["wall"], bound),
    )
    table.add(
        f"serialized bound: {ours['changes']} changes on one LB x {BUSY_MS} ms",
        seconds(bound),
        "",
        ours["changes"],
        "",
        ratio(tf["wall"], bound),
        "1.00x",
    )
    speedup = tf["wall"] / ours["wall"]
    table.targets += [
        Target(
            "provisioning: vs Terraform-like",
            f">= {TARGET_SPEEDUP:.0f}x faster than the Terraform-like apply",
            f"{speedup:.1f}x",
            speedup >= TARGET_SPEEDUP,
        ),
        Target(
            "provisioning: vs serialized bound",
            f"<= {TARGET_BOUND}x the serialized bound",
            f"{ours['wall'] / bound:.2f}x",
            ours["wall"] / bound <= TARGET_BOUND,
        ),
    ]
    table.notes += [
        f"LB changes = POST/PUT/DELETE on listeners, pools, monitors and members that the "
        f"emulator accepted (counted by its statistics); the Terraform-like apply's own bound "
        f"is {seconds(tf_bound)} ({tf['changes']} changes: one per member)",
        "ours includes the observe before and the fresh plan after (2 round trips each) and "
        "the certificate uploads, which run in parallel and occupy no load balancer",
        "busy 409s: changes the load balancer refused because it was PENDING_UPDATE",
    ]
    return table


def _stats(server: Any) -> dict[str, int]:
    snapshot = server.emulator.stats.snapshot()
    changes = sum(
        count
        for route, count in snapshot["by_route"].items()
        if route.split(" ", 1)[0] in ("POST", "PUT", "DELETE")
        and any(part in route for part in _LB_ROUTES)
    )
    return {
        "requests": int(snapshot["total"]),
        "changes": changes,
        "refused": int(snapshot["by_status"].get("409", 0)),
    }


def _ours(ctx: Any, spec: Any) -> dict[str, Any]:
    with emulated.fresh_emulator(spec.state_dir, seed=ctx.seed) as server:
        server.emulator.provisioning.configure(BUSY_MS)
        run = timed(lambda: deploy(["apply", str(spec.path), "--auto-approve"]))
        stats = _stats(server)
    # accepted changes only: a refused (409) attempt changes nothing
    stats["changes"] -= stats["refused"]
    return {"wall": run.seconds, **stats}


def _terraform_like(ctx: Any, spec: Any) -> dict[str, Any]:
    import threading

    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID
    from elb_mtls_deploy.pki import load_bundles
    from elb_mtls_deploy.spec.load import load_spec

    loaded = load_spec(spec.path, {})
    bundles = load_bundles(loaded, spec.path.parent, {})

    def pem(name: str) -> tuple[str, str]:
        bundle = bundles[name]
        return bundle.upload_pem if bundle.role == "server" else bundle.certificate_pem, (
            bundle.key_pem or ""
        )

    local = threading.local()
    with emulated.fresh_emulator(spec.state_dir, seed=ctx.seed) as server:
        server.emulator.provisioning.configure(BUSY_MS)

        def client() -> Any:
            if not hasattr(local, "client"):
                local.client = emulated.client(server.endpoint)
            return local.client

        run = timed(lambda: terraform_like.apply(client, spec, SEEDED_DEDICATED_LB_ID, pem))
        stats = _stats(server)
    stats["changes"] -= stats["refused"]
    return {"wall": run.seconds, **stats}


def prepare(ctx: Any) -> None:
    """The spec for this bench: the large spec's shape with fewer members (the
    Terraform-like apply takes one change per member, each at least `BUSY_MS`)."""
    import specs

    members = ctx.provisioning_members or 200
    ctx.provisioning_spec = specs.large_spec(
        ctx.root / "provisioning", listeners=20, members=members, seed=ctx.seed
    )
    deploy(["certs", str(ctx.provisioning_spec.path)])
