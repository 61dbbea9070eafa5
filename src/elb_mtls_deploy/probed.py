"""What a `deploy probe` result (`target.probe_file`) means for a plan: refusals and notes.

Pure: takes the probe document (the JSON `deploy probe --out` wrote) and the desired and
observed states, and returns the plan's extra conflicts (apply refuses them, before any
change) and notes. Only a result for one of the stack's load balancers, through the
plan's API version, counts. The rule per mismatch is docs/probe.md "When a probe
contradicts the tool"; mismatches the tool copes with become notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from elb_mtls_deploy.state import Ref, State

FORMAT = "elb-mtls-deploy-probe/1"  # what `deploy probe --out` writes (probe/report.py)
_CLIENTCERT = "X-Forwarded-Clientcert"
_REFUSING = ("certificate_text", "clientcert_headers", "ca_unbind", "multi_ca_trust")


def format_problem(document: Any) -> str | None:
    """Why `document` is not a probe result this version reads, or None."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        return f"not a `deploy probe --out` result (format {FORMAT!r} expected)"
    lb = document.get("loadbalancer")
    if not isinstance(lb, Mapping) or not isinstance(document.get("probes"), list):
        return "the probe result has no 'loadbalancer' or no 'probes'"
    return None


def refusals(
    document: Mapping[str, Any],
    desired: State,
    observed: State,
    flavour: str,
    loadbalancer_ids: Sequence[str],
) -> tuple[list[str], list[str]]:
    """(conflicts, notes) for this plan from a probe result (checked by `format_problem`)."""
    lb_id = str(document["loadbalancer"].get("id"))
    run = f"probe run {document.get('run')}"
    if lb_id not in loadbalancer_ids or document.get("api") != flavour:
        return [], [
            f"{run} is for load balancer {lb_id} through {document.get('api')}, not for this "
            f"plan ({flavour}); it is not used"
        ]
    missed = {
        str(p.get("name")): p
        for p in document["probes"]
        if isinstance(p, Mapping) and p.get("match") is False
    }
    conflicts = _certificate_text(run, missed, desired)
    for listener in desired.by_kind("listener"):
        if listener.fields.get("loadbalancer_id") != lb_id:
            continue
        have = observed.records.get(listener.key)
        had = have.fields if have is not None else None
        local = listener.key.name
        conflicts += _listener(run, missed, local, listener.fields, had)
    notes = [
        f"{run}: {name} differs from what the tool assumes ({p.get('observed')}); "
        f"{p.get('consequence') or 'report the probe result'}"
        for name, p in sorted(missed.items())
        if name not in _REFUSING
    ]
    return conflicts, notes


def _certificate_text(run: str, missed: Mapping[str, Any], desired: State) -> list[str]:
    if "certificate_text" not in missed or not desired.by_kind("certificate"):
        return []
    return [
        f"{run}: this account returns certificate text the tool cannot compare "
        f"({missed['certificate_text'].get('observed')}); a plan could replace unchanged "
        "certificates. Send the probe result back (docs/probe.md)"
    ]


def _listener(
    run: str,
    missed: Mapping[str, Any],
    name: str,
    want: Mapping[str, Any],
    have: Mapping[str, Any] | None,
) -> list[str]:
    out = []
    headers = want.get("insert_headers") or {}
    if "clientcert_headers" in missed and any(
        on and str(k).startswith(_CLIENTCERT) for k, on in headers.items()
    ):
        out.append(
            f"listener {name}: {run} found the client-certificate headers refused on this "
            f"account ({_answer(missed['clientcert_headers'])}); switch the client_cert_* "
            "headers off in the spec, or ask Huawei to enable the feature and probe again"
        )
    ca = want.get("client_ca_tls_container_ref")
    if "multi_ca_trust" in missed and isinstance(ca, Ref) and len(ca.bundle()) > 1:
        out.append(
            f"listener {name}: {run} found that a client-CA bundle is not trusted as a whole "
            "on this account; a rollover bundle would lock out one CA's clients. Switch the "
            "listener to the new CA in one step after reissuing its clients (docs/rotation.md)"
        )
    bound = have is not None and have.get("client_ca_tls_container_ref") is not None
    if "ca_unbind" in missed and bound and ca is None:
        out.append(
            f'listener {name}: {run} found that client_ca_tls_container_ref "" does not '
            "unbind the CA on this account; switch mutual TLS off in the console"
        )
    return out


def _answer(finding: Mapping[str, Any]) -> str:
    answer = finding.get("answer")
    if not isinstance(answer, Mapping):
        return str(finding.get("observed"))
    return " ".join(str(answer.get(k)) for k in ("status", "code", "message") if answer.get(k))
