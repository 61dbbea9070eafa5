"""The handshake matrix: which connections a listener must accept and which it must refuse.

`material_for` gathers what the checks need from the spec and its certificate bundles
(issuing throw-away foreign-CA and expired client certificates in memory; nothing is
written). `run_matrix` performs the checks through an injectable `connect` function (the
real one is `handshake.attempt`) and returns one `Result` per check; it never prints.

Checks, per listener (mutual = the spec sets `client_ca`):

| check              | mutual | one-way | passes when                                              |
|--------------------|--------|---------|----------------------------------------------------------|
| valid-client       | yes    |         | a client certificate of a trusted CA gets an HTTP answer |
| connect            |        | yes     | a connection without a client certificate is answered    |
| no-client-cert     | yes    |         | a connection without a client certificate is refused     |
| foreign-ca         | yes    |         | a client certificate from an unrelated CA is refused     |
| expired-client     | yes    |         | an expired certificate of a trusted CA is refused        |
| client:NAME        | yes    |         | each spec client: accepted iff its issuer is trusted     |
| server-fingerprint | yes    | yes     | the served leaf's SHA-256 equals the spec's certificate  |
| hostname           | yes    | yes     | the served chain verifies for the name, against the spec |
| tls-version        | yes    | yes     | the negotiated version is at least the policy's minimum  |
| old-tls-refused    | yes    | yes     | a client offering only the version below it is refused   |
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from elb_mtls_deploy.pki import Bundle, issue_ca, issue_client
from elb_mtls_deploy.spec.model import Listener, Spec, Subject
from elb_mtls_deploy.verify.handshake import VERSIONS, Attempt, ClientIdentity, Probe
from elb_mtls_deploy.verify.target import Where

Status = Literal["pass", "fail", "skip"]
Connect = Callable[[str, int, Probe], Attempt]

_V = ssl.TLSVersion
# Lowest version each spec policy admits (docs/api-notes.md §2.4 names; same as the emulator's map).
POLICY_MINIMUM: Mapping[str, ssl.TLSVersion] = {
    "tls-1-0": _V.TLSv1,
    "hybrid-policy-1-0": _V.TLSv1,
    "tls-1-0-with-1-3": _V.TLSv1,
    "tls-1-1": _V.TLSv1_1,
    "tls-1-2": _V.TLSv1_2,
    "tls-1-2-strict": _V.TLSv1_2,
    "tls-1-2-fs": _V.TLSv1_2,
    "tls-1-2-strict-no-cbc": _V.TLSv1_2,
    "tls-1-2-fs-with-1-3": _V.TLSv1_2,
}
_BELOW: Mapping[ssl.TLSVersion, ssl.TLSVersion] = {
    _V.TLSv1_1: _V.TLSv1,
    _V.TLSv1_2: _V.TLSv1_1,
    _V.TLSv1_3: _V.TLSv1_2,
}
_NAMES = {v: k for k, v in VERSIONS.items()}


@dataclass(frozen=True)
class Result:
    listener: str
    check: str
    status: Status
    detail: str


@dataclass(frozen=True)
class SpecClient:
    name: str
    issuer: str
    identity: ClientIdentity
    trusted: bool  # its issuer is one of the listener's client CAs


@dataclass(frozen=True)
class Material:
    """Everything the checks of one listener need; identities hold keys, never shown."""

    listener: str
    mutual: bool
    client_cas: tuple[str, ...]
    server_name: str
    server_fingerprint: str
    server_label: str
    trust_pem: str
    policy: str
    valid: ClientIdentity | None
    valid_note: str
    foreign: ClientIdentity | None
    expired: ClientIdentity | None
    expired_note: str
    clients: tuple[SpecClient, ...] = field(default=())
    revoked: tuple[ClientIdentity, ...] = field(default=())  # must not reach the service


# --- material ---------------------------------------------------------------------------


def material_for(
    spec: Spec,
    listener: Listener,
    bundles: Mapping[str, Bundle],
    now: datetime,
    *,
    server_name: str | None = None,
    only_clients: Sequence[str] = (),
    revoked: Sequence[ClientIdentity] = (),
) -> Material:
    server = bundles[listener.server_certificate]
    cas = listener.client_cas
    clients = _spec_clients(spec, bundles, cas, only_clients) if cas else ()
    signer = next((bundles[c] for c in cas if bundles[c].key_pem), None)
    valid, valid_note = _valid_client(clients, signer, cas, now)
    expired, expired_note = _expired_client(signer, cas, now)
    return Material(
        listener=listener.name,
        mutual=bool(cas),
        client_cas=cas,
        server_name=server_name or _first_name(server),
        server_fingerprint=server.fingerprint,
        server_label=listener.server_certificate,
        trust_pem=_server_trust(spec, server, bundles),
        policy=listener.tls_policy,
        valid=valid,
        valid_note=valid_note,
        foreign=_foreign_client(now) if cas else None,
        expired=expired,
        expired_note=expired_note,
        clients=clients,
        revoked=tuple(revoked) if cas else (),
    )


def _first_name(server: Bundle) -> str:
    return (server.dns_names or server.ip_addresses or ("",))[0]


def _server_trust(spec: Spec, server: Bundle, bundles: Mapping[str, Bundle]) -> str:
    """The spec's view of who vouches for the server: its issuing CA and/or chain; the leaf
    itself when neither is known (an imported certificate without chain)."""
    config = next(s for s in spec.certificates.servers if s.name == server.name)
    issuer = getattr(config, "issuer", None)
    parts = (
        [bundles[issuer].certificate_pem] if isinstance(issuer, str) and issuer in bundles else []
    )
    parts.append(server.chain_pem)
    trust = "".join(p for p in parts if p.strip())
    return trust or server.certificate_pem


def _identity(label: str, bundle: Bundle) -> ClientIdentity:
    return ClientIdentity(label, bundle.certificate_pem + bundle.chain_pem, bundle.key_pem or "")


def _spec_clients(
    spec: Spec, bundles: Mapping[str, Bundle], cas: tuple[str, ...], only: Sequence[str]
) -> tuple[SpecClient, ...]:
    return tuple(
        SpecClient(c.name, c.issuer, _identity(c.name, bundles[c.name]), c.issuer in cas)
        for c in spec.certificates.clients
        if (not only or c.name in only) and bundles[c.name].key_pem
    )


def _valid_client(
    clients: Sequence[SpecClient], signer: Bundle | None, cas: tuple[str, ...], now: datetime
) -> tuple[ClientIdentity | None, str]:
    if not cas:
        return None, ""
    trusted = next((c for c in clients if c.trusted), None)
    if trusted is not None:
        return trusted.identity, f"spec client {trusted.name} (issuer {trusted.issuer})"
    if signer is None:
        return None, f"no spec client is issued by {'/'.join(cas)} and no CA key is available"
    issued = issue_client(signer, Subject(common_name="elb-verify"), "ec-p256", 1, now)
    return (
        ClientIdentity("on-the-fly", issued.certificate_pem, issued.key_pem),
        f"issued on the fly by {signer.name}",
    )


def _expired_client(
    signer: Bundle | None, cas: tuple[str, ...], now: datetime
) -> tuple[ClientIdentity | None, str]:
    if not cas:
        return None, ""
    if signer is None:
        return None, f"the key of {'/'.join(cas)} is not available, so no expired certificate"
    issued = issue_client(
        signer,
        Subject(common_name="elb-verify-expired"),
        "ec-p256",
        1,
        now,
        not_before=now - timedelta(days=2),
        not_after=now - timedelta(days=1),
    )
    return ClientIdentity("expired", issued.certificate_pem, issued.key_pem), signer.name


def _foreign_client(now: datetime) -> ClientIdentity:
    ca = issue_ca(Subject(common_name="elb-verify foreign CA"), "ec-p256", 1, now)
    issued = issue_client(ca, Subject(common_name="elb-verify-foreign"), "ec-p256", 1, now)
    return ClientIdentity("foreign", issued.certificate_pem, issued.key_pem)


# --- checks -----------------------------------------------------------------------------


def run_matrix(where: Where, material: Material, connect: Connect) -> list[Result]:
    """Every check for one listener, in table order."""
    name = material.listener
    if where.problem is not None:
        return [Result(name, "reachable", "fail", where.problem)]
    checks = _Checks(where, material, connect)
    return [Result(name, check, status, detail) for check, status, detail in checks.run()]


Row = tuple[str, Status, str]


class _Checks:
    def __init__(self, where: Where, material: Material, connect: Connect) -> None:
        self.where = where
        self.m = material
        self._connect = connect

    def attempt(
        self,
        client: ClientIdentity | None,
        *,
        trust_pem: str | None = None,
        version: ssl.TLSVersion | None = None,
    ) -> Attempt:
        probe = Probe(
            self.m.server_name,
            client,
            trust_pem,
            minimum=version,
            maximum=version,
            legacy_ciphers=version is not None and version < _V.TLSv1_2,
        )
        return self._connect(self.where.host, self.where.port, probe)

    def run(self) -> list[Row]:
        main = self.attempt(self.m.valid)
        if main.outcome == "unreachable":
            return [("reachable", "fail", _unreachable(main, self.where))]
        rows = [self._admission(main)]
        if self.m.mutual:
            rows += [self._no_client(), self._foreign(), self._expired()]
            rows += [self._client(c) for c in self.m.clients]
            rows += [self._revoked(c) for c in self.m.revoked]
        rows += [self._fingerprint(main), self._hostname(), self._version(main), self._old_tls()]
        return rows

    # admission

    def _admission(self, main: Attempt) -> Row:
        m = self.m
        if not m.mutual:
            if main.outcome == "accepted":
                return ("connect", "pass", f"{main.detail} without a client certificate")
            return (
                "connect",
                "fail",
                f"a connection without a client certificate was refused ({main.detail}); the spec "
                f"says listener {m.listener} is one-way HTTPS: if it requires client certificates "
                "in the cloud, run `deploy plan SPEC` to see the drift and `deploy apply SPEC`",
            )
        if m.valid is None:
            return ("valid-client", "skip", m.valid_note)
        if main.outcome == "accepted":
            return ("valid-client", "pass", f"{main.detail} for {m.valid_note}")
        return (
            "valid-client",
            "fail",
            f"no client certificate was accepted: {m.valid_note} was refused ({main.detail}); "
            f"listener {m.listener} does not trust {'+'.join(m.client_cas)} - another CA may be "
            "bound (client_ca_tls_container_ref) or the client CA is stale: run `deploy plan SPEC` "
            "and `deploy apply SPEC`",
        )

    def _no_client(self) -> Row:
        seen = self.attempt(None)
        if seen.outcome == "refused":
            return ("no-client-cert", "pass", f"refused: {seen.detail}")
        if seen.outcome == "unreachable":
            return ("no-client-cert", "fail", seen.detail)
        return (
            "no-client-cert",
            "fail",
            f"a connection without a client certificate got {seen.detail}: mutual auth appears "
            f"to be off on listener {self.m.listener} (the spec sets client_ca: "
            f"{'+'.join(self.m.client_cas)}); run `deploy plan SPEC` and `deploy apply SPEC` to "
            "bind the client CA again",
        )

    def _foreign(self) -> Row:
        seen = self.attempt(self.m.foreign)
        if seen.outcome == "refused":
            return ("foreign-ca", "pass", f"refused: {seen.detail}")
        if seen.outcome == "unreachable":
            return ("foreign-ca", "fail", seen.detail)
        return (
            "foreign-ca",
            "fail",
            f"a client certificate from an unrelated CA got {seen.detail}: listener "
            f"{self.m.listener} does not restrict clients to {'+'.join(self.m.client_cas)}; "
            "check that mutual auth is on and the right CA is bound (`deploy plan SPEC`)",
        )

    def _expired(self) -> Row:
        if self.m.expired is None:
            return ("expired-client", "skip", self.m.expired_note)
        seen = self.attempt(self.m.expired)
        if seen.outcome == "refused":
            return ("expired-client", "pass", f"refused: {seen.detail}")
        if seen.outcome == "unreachable":
            return ("expired-client", "fail", seen.detail)
        return (
            "expired-client",
            "fail",
            f"an expired certificate issued by {self.m.expired_note} got {seen.detail}: listener "
            f"{self.m.listener} does not check client certificate validity dates; do not rely on "
            "expiry to retire clients, rotate the client CA instead (docs/rotation.md)",
        )

    def _client(self, client: SpecClient) -> Row:
        check = f"client:{client.name}"
        seen = self.attempt(client.identity)
        if seen.outcome == "unreachable":
            return (check, "fail", seen.detail)
        accepted = seen.outcome == "accepted"
        verdict = f"{'accepted' if accepted else 'refused'} ({seen.detail}), issuer {client.issuer}"
        if accepted == client.trusted:
            return (check, "pass", verdict)
        if client.trusted:
            why = f"its issuer {client.issuer} is in client_ca but the listener refused it"
            fix = "run `deploy plan SPEC` / `deploy apply SPEC` so the bound CA bundle matches"
        else:
            why = f"its issuer {client.issuer} is not in client_ca, yet the listener accepted it"
            fix = "the old CA is still trusted in the cloud: run `deploy apply SPEC` to retire it"
        return (check, "fail", f"{verdict}: {why}; {fix}")

    def _revoked(self, client: ClientIdentity) -> Row:
        """ELB has no CRL: a revoked client completes TLS, so the backend must refuse it
        by the client-certificate headers (docs/pki.md, revocation)."""
        check = f"revoked:{client.label}"
        seen = self.attempt(client)
        if seen.outcome == "unreachable":
            return (check, "fail", seen.detail)
        if seen.outcome == "refused":
            return (check, "pass", f"refused at the TLS layer ({seen.detail})")
        if seen.status in _REFUSED_STATUSES:
            return (check, "pass", f"the backend refused it (HTTP {seen.status})")
        return (
            check,
            "fail",
            f"accepted (HTTP {seen.status}): ELB has no CRL, so the backends must refuse a "
            f"revoked client; load `deploy revoked SPEC` into them and insert the "
            "X-Forwarded-Clientcert-serialnumber header (docs/pki.md), or roll the client CA "
            "over (docs/rotation.md)",
        )

    # the served certificate and protocol

    def _fingerprint(self, main: Attempt) -> Row:
        if main.peer_der is None:
            return (
                "server-fingerprint",
                "skip",
                f"no handshake completed ({main.detail}), so the served certificate is unknown",
            )
        served = hashlib.sha256(main.peer_der).hexdigest()
        want = self.m.server_fingerprint
        if served == want:
            return ("server-fingerprint", "pass", f"sha256:{served[:16]}… = {self.m.server_label}")
        return (
            "server-fingerprint",
            "fail",
            f"the listener serves sha256:{served[:16]}…, the spec's {self.m.server_label} is "
            f"sha256:{want[:16]}…: another certificate is bound, or a rotation is not applied "
            "yet; run `deploy plan SPEC` and `deploy apply SPEC`",
        )

    def _hostname(self) -> Row:
        name = self.m.server_name
        seen = self.attempt(self.m.valid, trust_pem=self.m.trust_pem)
        if seen.verify_error is not None:
            return (
                "hostname",
                "fail",
                f"the served certificate does not verify for {name!r} against the spec's "
                f"{self.m.server_label} chain: {seen.verify_error}; bind the spec's certificate "
                "(`deploy apply SPEC`) or pass --server-name with a name in its SAN",
            )
        if seen.outcome == "unreachable":
            return ("hostname", "fail", seen.detail)
        # A refusal by the server comes after our own check of its certificate succeeded.
        if seen.outcome == "accepted" or seen.peer_der is not None or seen.server_alert:
            return ("hostname", "pass", f"{name} verified against the spec's chain")
        return ("hostname", "skip", f"no handshake completed: {seen.detail}")

    def _version(self, main: Attempt) -> Row:
        minimum = POLICY_MINIMUM.get(self.m.policy, _V.TLSv1_2)
        if main.version is None:
            return ("tls-version", "skip", f"no handshake completed ({main.detail})")
        got = VERSIONS.get(main.version)
        if got is not None and got >= minimum:
            return ("tls-version", "pass", f"{main.version} (policy {self.m.policy})")
        return (
            "tls-version",
            "fail",
            f"negotiated {main.version}, below {_NAMES[minimum]} that policy {self.m.policy} "
            "requires; set tls_policy in the spec and run `deploy apply SPEC`",
        )

    def _old_tls(self) -> Row:
        minimum = POLICY_MINIMUM.get(self.m.policy, _V.TLSv1_2)
        below = _BELOW.get(minimum)
        if below is None:
            return ("old-tls-refused", "skip", f"policy {self.m.policy} allows TLSv1 already")
        label = _NAMES[below]
        if below < _V.TLSv1_2 and not _can_offer(below):
            return ("old-tls-refused", "skip", f"the local OpenSSL cannot offer {label}")
        seen = self.attempt(self.m.valid, version=below)
        if seen.cannot_try:
            return ("old-tls-refused", "skip", f"the local OpenSSL cannot offer {label}")
        if seen.outcome == "refused":
            return ("old-tls-refused", "pass", f"{label}-only client refused: {seen.detail}")
        if seen.outcome == "unreachable":
            return ("old-tls-refused", "fail", seen.detail)
        return (
            "old-tls-refused",
            "fail",
            f"a {label}-only client got {seen.detail}, but policy {self.m.policy} starts at "
            f"{_NAMES[minimum]}; check the listener's tls_ciphers_policy (`deploy plan SPEC`)",
        )


_REFUSED_STATUSES = frozenset({401, 403, 495, 496})


def _can_offer(version: ssl.TLSVersion) -> bool:
    return {_V.TLSv1: ssl.HAS_TLSv1, _V.TLSv1_1: ssl.HAS_TLSv1_1}.get(version, True)


def _unreachable(seen: Attempt, where: Where) -> str:
    hint = (
        "run `deploy apply SPEC`, and keep `deploy emulator serve` running"
        if where.source == "emulator data plane"
        else "check security groups/ACLs and the address (or pass --address HOST:PORT)"
    )
    return f"{seen.detail} ({where.source}); {hint}"


def failed(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.status == "fail"]
