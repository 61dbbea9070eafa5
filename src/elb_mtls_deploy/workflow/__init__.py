"""The stages wired together, one call per command: load -> certs -> connect -> observe ->
diff -> approve -> apply, and the checks between them.

    session.py   the spec loaded, and where the cloud is (real, running emulator, in-process)
    certs.py     the PKI as plan reads it and apply writes it; the certificate commands
    notes.py     the notes a plan carries (issuance, rollover, revocation, probe, expiry)
    anchors.py   the trust-anchor guard: never replace a CA the cloud trusts implicitly
    planning.py  the plan, and the same plan once apply has issued what it said
    converge.py  the loop apply and destroy share: run, plan again, until nothing differs
    saved.py     whether a saved plan may still be applied
    deploy.py    `apply` and `destroy`
    commands.py  `plan`, `verify`, `output` and `probe`

Nothing here prints: progress goes through callbacks, results are returned values, and
the CLI renders them and chooses the exit code.
"""

from __future__ import annotations

from elb_mtls_deploy.workflow.certs import (
    Validated,
    generations,
    issue,
    lint_existing,
    revoked,
    sign,
    validate,
)
from elb_mtls_deploy.workflow.commands import PlanReport, outputs, plan, probe, verify
from elb_mtls_deploy.workflow.converge import Events
from elb_mtls_deploy.workflow.deploy import Deployed, Hooks, apply, destroy
from elb_mtls_deploy.workflow.planning import Planned, make_plan, placement
from elb_mtls_deploy.workflow.saved import is_saved_plan
from elb_mtls_deploy.workflow.session import Connection, Loaded, connect, load, now

__all__ = [
    "Connection",
    "Deployed",
    "Events",
    "Hooks",
    "Loaded",
    "PlanReport",
    "Planned",
    "Validated",
    "apply",
    "connect",
    "destroy",
    "generations",
    "is_saved_plan",
    "issue",
    "lint_existing",
    "load",
    "make_plan",
    "now",
    "outputs",
    "placement",
    "plan",
    "probe",
    "revoked",
    "sign",
    "validate",
    "verify",
]
