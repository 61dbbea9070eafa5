"""The plan's PKI markers as text: "(known after apply: REASON)" unquoted, and a WARNING
note (a client CA no longer trusted) in red on a terminal."""

from __future__ import annotations

from elb_mtls_deploy.desired import known_after_apply
from elb_mtls_deploy.plan import Action, Change, Plan
from elb_mtls_deploy.render import render_text
from elb_mtls_deploy.state import Ref

WARNING = (
    "WARNING: listener www stops trusting CA client-ca: all client certificates issued by the "
    "old CA stop working"
)


def plan() -> Plan:
    change = Change("fingerprint", "ab" * 32, known_after_apply("subjectAltName changed"))
    action = Action(
        "update", "certificate", Ref("certificate", "www"), "s-www", "id-1",
        fields={"fingerprint": change.new}, changes=(change,),
    )  # fmt: skip
    return Plan("s", "v3", (action,), ((0,),), notes=(WARNING,))


def test_known_after_apply_is_shown_with_its_reason_unquoted() -> None:
    text = render_text(plan())
    assert (
        "      ~ fingerprint: sha256:abababababababab… -> (known after apply: subjectAltName "
        "changed)\n"
    ) in text
    assert f"note: {WARNING}\n" in text


def test_a_warning_note_is_red_on_a_terminal() -> None:
    assert f"\x1b[31mnote: {WARNING}\x1b[0m" in render_text(plan(), colour=True)
    assert "\x1b[31mnote" not in render_text(plan(), colour=False)
