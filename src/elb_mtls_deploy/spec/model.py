"""The spec: one YAML file describing one stack, as frozen pydantic models.

Owns the shape of the file and every check that needs no I/O: field constraints,
unique names and ports, and cross-references between certificates and listeners.
Must not read files, the environment or the network (`load.py` does that).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

KeyType = Literal["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"]
Port = Annotated[int, Field(ge=1, le=65535)]
Weight = Annotated[int, Field(ge=0, le=100)]

_STACK_RE = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
_NAME_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"
_DNS_RE = re.compile(
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


def _dns_name(value: str) -> str:
    lowered = value.lower().rstrip(".")
    if len(lowered) > 253 or not _DNS_RE.match(lowered):
        raise ValueError(
            f"{value!r} is not a DNS name (a wildcard is allowed only as a leading '*.')"
        )
    return lowered


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


# C0 controls, DEL and C1 controls: a YAML "\0" escape in a subject would issue a classic
# null-prefix certificate; none of them belongs in a name the API or a peer will read.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start() + 1}; use printable text only"
        )
    return value


# url_path: starts with '/', at most 80 characters, and only the characters the API lists
# (docs/api-notes.md §10.1); CR/LF, spaces and controls are refused.
_URL_PATH = re.compile(r"/[A-Za-z0-9\-/.%?#&_;~!()*\[\]@$^:',+]*")
MAX_URL_PATH = 80


def _url_path(value: str) -> str:
    if len(value) > MAX_URL_PATH:
        raise ValueError(f"is {len(value)} characters long; the API allows at most {MAX_URL_PATH}")
    if not _URL_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a health-check path: it must start with '/' and use only "
            "letters, digits and -/.%?#&_;~!()*[]@$^:',+ (no spaces, CR or LF)"
        )
    return value


# expected_codes: a single code ("200"), a list ("200,202") or a range ("200-204"), the
# three forms the API documents (docs/api-notes.md §10.1); codes 200-599, low <= high.
_CODES_FORM = re.compile(r"\d{3}(,\d{3})*|\d{3}-\d{3}")


def _expected_codes(value: str) -> str:
    if not _CODES_FORM.fullmatch(value):
        raise ValueError(f"{value!r} is not a status code, a list (200,202) or a range (200-204)")
    codes = [int(c) for c in re.split("[,-]", value)]
    bad = [c for c in codes if not 200 <= c <= 599]
    if bad:
        raise ValueError(f"status code {bad[0]} is outside 200-599")
    if "-" in value and codes[0] > codes[1]:
        raise ValueError(f"the range {value!r} runs backwards; write it low-high")
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
Name = Annotated[str, Field(pattern=_NAME_RE)]
Text = Annotated[str, AfterValidator(_printable)]


class ReferenceError_(ValueError):
    """A cross-reference problem; `loc` points at the offending field for file:line:col."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- target ---------------------------------------------------------------------------


class EmbeddedTarget(Model):
    """The local ELB emulator: no account, state in SQLite under `state_dir`."""

    kind: Literal["embedded"]
    state_dir: Path = Path(".elb-emulator")
    api: Literal["v3", "v2", "auto"] = "auto"
    probe_file: Path | None = None  # `deploy probe --out` result (docs/probe.md)


class HuaweiCloudTarget(Model):
    """The real Huawei Cloud. Credentials never live here: they come from the environment."""

    kind: Literal["huaweicloud"]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}-[a-z]+(-[a-z0-9]+)*-\d+$")]
    project_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    # Users scoped to an enterprise project get 400 ELB.9801 on list calls without it
    # (docs/api-notes.md §10.1); "0" is the default enterprise project.
    enterprise_project_id: (
        Annotated[str, Field(pattern=r"^(0|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$")] | None
    ) = None
    api: Literal["v3", "v2", "auto"] = "auto"
    endpoint: Annotated[str, Field(pattern=r"^https?://[^\s/]+/?$")] | None = None
    probe_file: Path | None = None  # `deploy probe --out` result (docs/probe.md)


Target = Annotated[EmbeddedTarget | HuaweiCloudTarget, Field(discriminator="kind")]


# --- certificates ---------------------------------------------------------------------


class Subject(Model):
    """X.509 subject; the console guide uses `O=ELB` and `CN=www.test.com`."""

    common_name: Annotated[Text, Field(min_length=1, max_length=64)]
    organization: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    organizational_unit: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    state: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    locality: Annotated[Text, Field(min_length=1, max_length=128)] | None = None


class KeySource(Model):
    """Where an existing private key comes from: a file, or an env var holding the PEM
    (a GitLab *file* variable holds a path, so `file: ${CA_KEY_FILE}` covers that too)."""

    file: Path | None = None
    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> KeySource:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env' for the private key")
        return self


class ImportSource(Model):
    """Existing material from an authority: leaf (plus chain) and its key, from files."""

    certificate: Path
    chain: Path | None = None
    key: KeySource | None = None


class _Issued(Model):
    name: Name
    subject: Subject
    key_type: KeyType = "ec-p256"
    validity_days: Annotated[int, Field(ge=1, le=36500)]
    renew_before_days: Annotated[int, Field(ge=0, le=3650)] = 30


class GeneratedCA(_Issued):
    """A CA we issue (self-signed). Its key may live outside the PKI dir (`key`)."""

    validity_days: Annotated[int, Field(ge=1, le=36500)] = 3650
    key: KeySource | None = None


class ImportedCA(Model):
    name: Name
    import_: ImportSource = Field(alias="import")
    renew_before_days: Annotated[int, Field(ge=0, le=3650)] = 30


class GeneratedServer(_Issued):
    issuer: Name
    dns_names: tuple[DnsName, ...] = ()
    ip_addresses: tuple[IpAddress, ...] = ()
    validity_days: Annotated[int, Field(ge=1, le=36500)] = 397

    @model_validator(mode="after")
    def _needs_san(self) -> GeneratedServer:
        if not self.dns_names and not self.ip_addresses:
            raise ValueError(
                "a server certificate needs at least one entry in 'dns_names' or 'ip_addresses' "
                "(modern clients ignore the CN)"
            )
        return self


class ImportedServer(Model):
    name: Name
    import_: ImportSource = Field(alias="import")
    renew_before_days: Annotated[int, Field(ge=0, le=3650)] = 30

    @model_validator(mode="after")
    def _needs_key(self) -> ImportedServer:
        if self.import_.key is None:
            raise ValueError("an imported server certificate needs its private key ('import.key')")
        return self


class P12Export(Model):
    """`.p12` export: `modern` = AES-256-CBC + PBKDF2; `legacy` = 3DES/RC2 for old importers."""

    profile: Literal["modern", "legacy"] = "modern"
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None


class GeneratedClient(_Issued):
    issuer: Name
    validity_days: Annotated[int, Field(ge=1, le=36500)] = 397
    p12: P12Export | None = None


def _variant(value: Any) -> str:
    if isinstance(value, dict):
        return "imported" if "import" in value else "generated"
    return "imported" if hasattr(value, "import_") else "generated"


CA = Annotated[
    Annotated[GeneratedCA, Tag("generated")] | Annotated[ImportedCA, Tag("imported")],
    Discriminator(_variant),
]
ServerCert = Annotated[
    Annotated[GeneratedServer, Tag("generated")] | Annotated[ImportedServer, Tag("imported")],
    Discriminator(_variant),
]


class Revoked(Model):
    """A client certificate backends must refuse (ELB has no CRL: docs/pki.md): every
    generation of a former spec client, or one serial (e.g. signed with `deploy sign`)."""

    client: Name | None = None
    serial: Annotated[str, Field(pattern=r"^(0[xX])?[0-9A-Fa-f:]{1,64}$")] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=200)] = "revoked"

    @model_validator(mode="after")
    def _exactly_one(self) -> Revoked:
        if (self.client is None) == (self.serial is None):
            raise ValueError("name the revoked certificate by exactly one of 'client' or 'serial'")
        return self


class Certificates(Model):
    cas: tuple[CA, ...] = ()
    servers: tuple[ServerCert, ...] = ()
    clients: tuple[GeneratedClient, ...] = ()
    revoked: tuple[Revoked, ...] = ()


# --- listeners, pools, members --------------------------------------------------------

# Friendly spec names for the listener's insert_headers (docs/api-notes.md §2.4).
INSERT_HEADER_KEYS: dict[str, str] = {
    "elb_ip": "X-Forwarded-ELB-IP",
    "forwarded_port": "X-Forwarded-Port",
    "forwarded_for_port": "X-Forwarded-For-Port",
    "forwarded_host": "X-Forwarded-Host",
    "forwarded_proto": "X-Forwarded-Proto",
    "real_ip": "X-Real-IP",
    "elb_id": "X-Forwarded-ELB-ID",
    "tls_certificate_id": "X-Forwarded-TLS-Certificate-ID",
    "tls_protocol": "X-Forwarded-TLS-Protocol",
    "tls_cipher": "X-Forwarded-TLS-Cipher",
    "client_cert_subject_dn": "X-Forwarded-Clientcert-subjectdn-enable",
    "client_cert_issuer_dn": "X-Forwarded-Clientcert-issuerdn-enable",
    "client_cert_fingerprint": "X-Forwarded-Clientcert-fingerprint-enable",
    "client_cert_verify": "X-Forwarded-Clientcert-clientverify-enable",
    "client_cert_serial": "X-Forwarded-Clientcert-serialnumber-enable",
}
_CLIENT_CERT_HEADERS = {k for k in INSERT_HEADER_KEYS if k.startswith("client_cert_")}


class InsertHeaders(Model):
    elb_ip: bool = False
    forwarded_port: bool = False
    forwarded_for_port: bool = False
    forwarded_host: bool = True  # the API's default for HTTP/HTTPS listeners (api-notes §10.3)
    forwarded_proto: bool = False
    real_ip: bool = False
    elb_id: bool = False
    tls_certificate_id: bool = False
    tls_protocol: bool = False
    tls_cipher: bool = False
    client_cert_subject_dn: bool = False
    client_cert_issuer_dn: bool = False
    client_cert_fingerprint: bool = False
    client_cert_verify: bool = False
    client_cert_serial: bool = False

    def api_value(self) -> dict[str, bool]:
        """The switched-on headers in the API's names (what a listener inserts)."""
        return {INSERT_HEADER_KEYS[k]: True for k, v in self.model_dump().items() if v}


class LoadBalancerRef(Model):
    id: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    name: Annotated[Text, Field(min_length=1, max_length=255)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LoadBalancerRef:
        if (self.id is None) == (self.name is None):
            raise ValueError("name the load balancer by exactly one of 'id' or 'name'")
        return self

    @property
    def label(self) -> str:
        return f"id {self.id}" if self.id else f"name {self.name}"


class SessionPersistence(Model):
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: Annotated[Text, Field(min_length=1, max_length=1024)] | None = None
    timeout_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None

    @model_validator(mode="after")
    def _cookie_only_for_app(self) -> SessionPersistence:
        if (self.type == "APP_COOKIE") != (self.cookie_name is not None):
            raise ValueError("'cookie_name' is required for APP_COOKIE and only allowed there")
        # HTTP/HTTPS pools honour only cookie persistence; APP_COOKIE ignores the timeout
        # (docs/api-notes.md §10.3): refuse what the API would silently not do.
        if self.type == "SOURCE_IP":
            raise ValueError(
                "SOURCE_IP persistence has no effect on HTTP/HTTPS pools; use HTTP_COOKIE"
            )
        if self.type == "APP_COOKIE" and self.timeout_minutes is not None:
            raise ValueError("'timeout_minutes' has no effect with APP_COOKIE; drop it")
        return self


class HealthMonitor(Model):
    type: Literal["TCP", "HTTP", "HTTPS"] = "HTTP"
    delay: Annotated[int, Field(ge=1, le=50)] = 5
    timeout: Annotated[int, Field(ge=1, le=300)] = 3
    max_retries: Annotated[int, Field(ge=1, le=10)] = 3
    url_path: Annotated[str, AfterValidator(_url_path)] = "/"
    expected_codes: Annotated[str, AfterValidator(_expected_codes)] = "200"
    http_method: Literal["GET", "HEAD", "POST"] = "GET"
    monitor_port: Port | None = None


class Member(Model):
    address: IpAddress
    port: Port
    weight: Weight = 1
    subnet_id: Annotated[Text, Field(min_length=1, max_length=64)] | None = None

    @property
    def key(self) -> str:
        return f"{self.address}:{self.port}"


class Pool(Model):
    name: Name | None = None
    algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"] = "ROUND_ROBIN"
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    session_persistence: SessionPersistence | None = None
    health_monitor: HealthMonitor | None = None
    members: tuple[Member, ...] = ()


TlsPolicy = Literal[
    "tls-1-0",
    "tls-1-1",
    "tls-1-2",
    "tls-1-2-strict",
    "tls-1-2-fs",
    "tls-1-0-with-1-3",
    "tls-1-2-fs-with-1-3",
    "hybrid-policy-1-0",
    "tls-1-2-strict-no-cbc",
]


class Listener(Model):
    name: Name
    loadbalancer: LoadBalancerRef
    port: Port = 443
    server_certificate: Name
    # One CA, or several during a client-CA rollover: they are uploaded as one bundle.
    client_ca: Name | Annotated[tuple[Name, ...], Field(min_length=1, max_length=10)] | None = None
    tls_policy: TlsPolicy = "tls-1-2"
    http2: bool = False
    idle_timeout: Annotated[int, Field(ge=0, le=4000)] = 60
    client_timeout: Annotated[int, Field(ge=1, le=300)] = 60
    member_timeout: Annotated[int, Field(ge=1, le=300)] = 60
    insert_headers: InsertHeaders = InsertHeaders()
    pool: Pool

    @property
    def pool_name(self) -> str:
        return self.pool.name or self.name

    @property
    def client_cas(self) -> tuple[str, ...]:
        """The trusted client CAs, in the order given (empty = one-way HTTPS)."""
        if self.client_ca is None:
            return ()
        return (self.client_ca,) if isinstance(self.client_ca, str) else self.client_ca

    @property
    def client_ca_bundle(self) -> str | None:
        """The uploaded certificate's local name: the CA's name, or names joined by '+'."""
        return "+".join(self.client_cas) or None


# --- adoption (`deploy import`, docs/import.md) ----------------------------------------

CloudId = Annotated[str, Field(min_length=1, max_length=64)]


class AdoptedCertificate(Model):
    id: CloudId
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Adopt(Model):
    """Cloud resources made outside the tool that this stack takes over in place, by id."""

    certificates: dict[Name, AdoptedCertificate] = {}
    listeners: dict[Name, CloudId] = {}
    pools: dict[Name, CloudId] = {}


# --- the stack ------------------------------------------------------------------------


class Spec(Model):
    """One stack: its name becomes the prefix and ownership marker of every cloud resource."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="elb-mtls-deploy spec")

    version: Literal[1] = 1
    stack: Annotated[str, Field(pattern=_STACK_RE)]
    target: Target
    pki_dir: Path = Path("pki")
    certificates: Certificates = Certificates()
    listeners: Annotated[tuple[Listener, ...], Field(min_length=1)]
    adopt: Adopt = Adopt()

    @model_validator(mode="after")
    def _cross_references(self) -> Spec:
        for problem in _reference_problems(self):
            raise problem
        return self

    def ca(self, name: str) -> GeneratedCA | ImportedCA | None:
        return next((c for c in self.certificates.cas if c.name == name), None)

    def all_certificates(self) -> Iterator[tuple[str, Any]]:
        """(role, certificate) for every certificate, in file order."""
        for role, items in (
            ("ca", self.certificates.cas),
            ("server", self.certificates.servers),
            ("client", self.certificates.clients),
        ):
            for item in items:
                yield role, item


def _reference_problems(spec: Spec) -> Iterator[ReferenceError_]:
    """Every cross-reference problem, first one first; pure, so it is tested with literals."""
    roles: dict[str, str] = {}
    for (role, index), cert in _indexed_certs(spec):
        where = ("certificates", _group(role), index, "name")
        if cert.name in roles:
            yield ReferenceError_(
                f"certificate name {cert.name!r} is used twice; names must be unique", where
            )
        roles.setdefault(cert.name, role)
    for index, cert in enumerate(spec.certificates.servers):
        if isinstance(cert, GeneratedServer):
            yield from _issuer_problem(
                roles, cert.issuer, ("certificates", "servers", index, "issuer")
            )
    for index, client in enumerate(spec.certificates.clients):
        yield from _issuer_problem(
            roles, client.issuer, ("certificates", "clients", index, "issuer")
        )
    for index, revoked in enumerate(spec.certificates.revoked):
        if revoked.client is not None and revoked.client in roles:
            yield ReferenceError_(
                f"{revoked.client!r} is revoked but still a certificate of the spec; remove it "
                "from 'clients' (a new certificate for that user needs a new name)",
                ("certificates", "revoked", index, "client"),
            )
    yield from _listener_problems(spec, roles)
    yield from _adopt_problems(spec, roles)


def _adopt_problems(spec: Spec, roles: dict[str, str]) -> Iterator[ReferenceError_]:
    """An adopted id under a name the spec does not use would be planned for deletion."""
    known = {
        "certificates": set(roles),
        "listeners": {x.name for x in spec.listeners},
        "pools": {x.pool_name for x in spec.listeners},
    }
    for group, names in known.items():
        for name in getattr(spec.adopt, group):
            if name not in names:
                yield ReferenceError_(
                    f"adopt.{group}: {name!r} is not one of the spec's {group}; an adopted "
                    "resource must be described in the spec (or its entry removed)",
                    ("adopt", group, name),
                )


def _indexed_certs(spec: Spec) -> Iterator[tuple[tuple[str, int], Any]]:
    for role, items in (
        ("ca", spec.certificates.cas),
        ("server", spec.certificates.servers),
        ("client", spec.certificates.clients),
    ):
        for i, item in enumerate(items):
            yield (role, i), item


def _group(role: str) -> str:
    return {"ca": "cas", "server": "servers", "client": "clients"}[role]


def _issuer_problem(
    roles: dict[str, str], issuer: str, loc: tuple[str | int, ...]
) -> Iterator[ReferenceError_]:
    if issuer not in roles:
        yield ReferenceError_(f"issuer {issuer!r} is not a certificate in this spec", loc)
    elif roles[issuer] != "ca":
        yield ReferenceError_(
            f"issuer {issuer!r} is a {roles[issuer]} certificate, not a CA; "
            "name an entry of 'certificates.cas'",
            loc,
        )


def _listener_problems(spec: Spec, roles: dict[str, str]) -> Iterator[ReferenceError_]:
    names: set[str] = set()
    pools: set[str] = set()
    ports: dict[tuple[LoadBalancerRef, int], str] = {}
    for i, listener in enumerate(spec.listeners):
        at = ("listeners", i)
        if listener.name in names:
            yield ReferenceError_(f"listener name {listener.name!r} is used twice", (*at, "name"))
        if listener.pool_name in pools:
            yield ReferenceError_(
                f"pool name {listener.pool_name!r} is used twice; give each pool its own 'name'",
                (*at, "pool"),
            )
        names.add(listener.name)
        pools.add(listener.pool_name)
        yield from _cert_role_problem(
            roles, listener.server_certificate, "server", (*at, "server_certificate")
        )
        if listener.client_ca is not None:
            if len(set(listener.client_cas)) != len(listener.client_cas):
                yield ReferenceError_("a CA is listed twice in 'client_ca'", (*at, "client_ca"))
            for ca in listener.client_cas:
                yield from _cert_role_problem(roles, ca, "ca", (*at, "client_ca"))
        elif listener.insert_headers.model_dump(include=_CLIENT_CERT_HEADERS) != dict.fromkeys(
            _CLIENT_CERT_HEADERS, False
        ):
            yield ReferenceError_(
                "client-certificate headers need mutual TLS; set 'client_ca' or drop them",
                (*at, "insert_headers"),
            )
        taken = ports.setdefault((listener.loadbalancer, listener.port), listener.name)
        if taken != listener.name:
            yield ReferenceError_(
                f"port {listener.port} on load balancer {listener.loadbalancer.label} is already "
                f"used by listener {taken!r}",
                (*at, "port"),
            )
        yield from _member_problems(listener, at)


def _cert_role_problem(
    roles: dict[str, str], name: str, want: str, loc: tuple[str | int, ...]
) -> Iterator[ReferenceError_]:
    wanted = {"server": "a server certificate", "ca": "a CA certificate"}[want]
    if name not in roles:
        yield ReferenceError_(f"{name!r} is not a certificate in this spec; name {wanted}", loc)
    elif roles[name] != want:
        yield ReferenceError_(f"{name!r} is a {roles[name]} certificate; name {wanted}", loc)


def _member_problems(listener: Listener, at: tuple[str | int, ...]) -> Iterator[ReferenceError_]:
    seen: set[str] = set()
    for j, member in enumerate(listener.pool.members):
        if member.key in seen:
            yield ReferenceError_(
                f"member {member.key} appears twice in pool {listener.pool_name!r}",
                (*at, "pool", "members", j),
            )
        seen.add(member.key)
