"""`deploy schema`: the spec's JSON Schema for editors, with a description for every
property and `${VAR}` accepted wherever the loader substitutes the environment.

The model (`spec/model.py`) stays free of documentation text; this module adds it by JSON
path (`Definition.property`), so a property without a description is caught by the test
suite, not by a reviewer. Pure: returns a dict.
"""

from __future__ import annotations

from typing import Any

_CERT_NAME = "Name of this certificate: the PKI file names and the cloud name `<stack>-<name>`."
_KEY_TYPE = "Key algorithm and size: rsa-2048/3072/4096 or ec-p256/ec-p384."
_RENEW = "Renew (re-issue) this many days before it expires; 0 never renews early."
_SUBJECT = "Distinguished name of the certificate."
_ISSUER = "Name of the CA (in `certificates.cas`) that signs this certificate."
_IMPORT = "Files of a certificate issued elsewhere (an authority, an HSM): used as they are."
_API = (
    "ELB API: v3 for dedicated load balancers, v2 for shared ones, auto to choose from the "
    "load balancer's type."
)
_PROBE_FILE = (
    "A `deploy probe --out` result for this account, relative to this file: plan refuses "
    "changes that need a behaviour the probe found missing (docs/probe.md)."
)
_HEADER = "Insert the `{}` header into requests to the members."

DESCRIPTIONS: dict[str, str] = {
    # the stack
    "Spec.version": "Version of this spec format; only 1 exists.",
    "Spec.stack": (
        "Stack name: prefixes every cloud resource and marks what this stack owns "
        "(lower case, digits and '-', 2-32 characters)."
    ),
    "Spec.target": "Where the load balancer is: the embedded emulator or Huawei Cloud.",
    "Spec.pki_dir": "Directory of issued certificates and keys, relative to this file.",
    "Spec.certificates": "The CAs, server certificates and client certificates of the stack.",
    "Spec.listeners": "The HTTPS listeners to create, each with its pool and members.",
    "Spec.adopt": (
        "Cloud ids of resources made outside the tool (`deploy import`) that this stack takes "
        "over in place: renamed and marked, never recreated (docs/import.md)."
    ),
    "Adopt.certificates": "Certificate name -> the adopted certificate.",
    "Adopt.listeners": "Listener name -> the adopted listener's id.",
    "Adopt.pools": "Pool name -> the adopted pool's id (its monitor and members come along).",
    "AdoptedCertificate.id": "The certificate's id in the cloud.",
    "AdoptedCertificate.sha256": (
        "SHA-256 of the adopted leaf: while the file still holds it, its lint errors are "
        "warnings (ELB serves it today); a replacement is linted in full."
    ),
    "Certificates.cas": "CAs: generated here, or imported. A CA bound as client_ca checks clients.",
    "Certificates.servers": "Server certificates the load balancer presents.",
    "Certificates.clients": "Client certificates to issue (exported as .p12) for mutual TLS.",
    "Certificates.revoked": (
        "Client certificates backends must refuse (ELB has no CRL): see `deploy revoked`."
    ),
    "Revoked.client": "A former client of this spec: every generation it ever had is revoked.",
    "Revoked.serial": "The serial number (hex) of a certificate signed elsewhere (deploy sign).",
    "Revoked.reason": "Why, for the deny-list and the plan (e.g. 'laptop stolen').",
    # targets
    "EmbeddedTarget.kind": "`embedded`: the ELB emulator on 127.0.0.1, no cloud account.",
    "EmbeddedTarget.state_dir": "Directory of the emulator's SQLite state.",
    "EmbeddedTarget.api": _API,
    "HuaweiCloudTarget.kind": "`huaweicloud`: Huawei Cloud, credentials from the environment.",
    "HuaweiCloudTarget.region": "Region id, e.g. cn-north-4 or ap-southeast-1.",
    "HuaweiCloudTarget.project_id": (
        "Project id of the region (32 hex digits); else HUAWEICLOUD_SDK_PROJECT_ID."
    ),
    "HuaweiCloudTarget.enterprise_project_id": (
        "Enterprise project of the resources, for users scoped to one (`0` is the default)."
    ),
    "HuaweiCloudTarget.api": _API,
    "HuaweiCloudTarget.endpoint": (
        "ELB endpoint URL instead of https://elb.<region>.myhuaweicloud.com."
    ),
    "EmbeddedTarget.probe_file": _PROBE_FILE,
    "HuaweiCloudTarget.probe_file": _PROBE_FILE,
    # certificates
    "Subject.common_name": "Common name (CN).",
    "Subject.organization": "Organisation (O).",
    "Subject.organizational_unit": "Organisational unit (OU).",
    "Subject.country": "Two-letter country code (C).",
    "Subject.state": "State or province (ST).",
    "Subject.locality": "Locality or city (L).",
    "KeySource.file": "Path of the PEM private key (e.g. a GitLab file variable).",
    "KeySource.env": "Environment variable holding the PEM private key.",
    "KeySource.password_env": "Environment variable holding the key's password, if encrypted.",
    "GeneratedCA.name": _CERT_NAME,
    "GeneratedCA.subject": _SUBJECT,
    "GeneratedCA.key_type": _KEY_TYPE,
    "GeneratedCA.validity_days": "Days the CA certificate is valid (default 3650).",
    "GeneratedCA.renew_before_days": _RENEW,
    "GeneratedCA.key": (
        "Where the CA's private key lives, outside the PKI directory (a file or an "
        "environment variable); without it the key is generated into the PKI directory."
    ),
    "ImportedCA.name": _CERT_NAME,
    "ImportedCA.import": _IMPORT,
    "ImportedCA.renew_before_days": "Warn this many days before the imported CA expires.",
    "GeneratedServer.name": _CERT_NAME,
    "GeneratedServer.subject": _SUBJECT,
    "GeneratedServer.key_type": _KEY_TYPE,
    "GeneratedServer.validity_days": "Days the certificate is valid (default 397).",
    "GeneratedServer.renew_before_days": _RENEW,
    "GeneratedServer.issuer": _ISSUER,
    "GeneratedServer.dns_names": "DNS names of the subjectAltName extension.",
    "GeneratedServer.ip_addresses": "IP addresses of the subjectAltName extension.",
    "ImportedServer.name": _CERT_NAME,
    "ImportedServer.import": _IMPORT,
    "ImportedServer.renew_before_days": "Warn this many days before the imported one expires.",
    "ImportSource.certificate": "Path of the PEM certificate (the leaf first).",
    "ImportSource.chain": "Path of the PEM intermediates, if not in the certificate file.",
    "ImportSource.key": "Where the private key is (server certificates need one).",
    "GeneratedClient.name": _CERT_NAME,
    "GeneratedClient.subject": _SUBJECT,
    "GeneratedClient.key_type": _KEY_TYPE,
    "GeneratedClient.validity_days": "Days the certificate is valid (default 397).",
    "GeneratedClient.renew_before_days": _RENEW,
    "GeneratedClient.issuer": _ISSUER,
    "GeneratedClient.p12": "Export a .p12 (PKCS#12) for the client's key and certificate.",
    "P12Export.profile": "modern (AES-256, PBKDF2) or legacy (for old importers).",
    "P12Export.password_env": (
        "Environment variable with the .p12 password; else one is generated and written "
        "0600 beside the file."
    ),
    # listeners
    "Listener.name": "Listener name: the cloud name is `<stack>-<name>`.",
    "Listener.loadbalancer": "The load balancer to attach to, by id or by name.",
    "Listener.port": "Port the listener accepts HTTPS on (1-65535, default 443).",
    "Listener.server_certificate": "Name of the server certificate the listener presents.",
    "Listener.client_ca": (
        "Mutual TLS: name of the CA that client certificates must chain to, or a list of "
        "CAs during a rollover; omit for one-way TLS."
    ),
    "Listener.tls_policy": "TLS security policy (protocol versions and ciphers).",
    "Listener.http2": "Offer HTTP/2 to clients.",
    "Listener.idle_timeout": "Seconds an idle client connection is kept (dedicated only).",
    "Listener.client_timeout": "Seconds to wait for a client request (dedicated only).",
    "Listener.member_timeout": "Seconds to wait for a member's response (dedicated only).",
    "Listener.insert_headers": "Headers the load balancer adds to requests to the members.",
    "Listener.pool": "The backend pool this listener forwards to.",
    "LoadBalancerRef.id": "Load balancer id (from the console or `deploy emulator state`).",
    "LoadBalancerRef.name": "Load balancer name; must be unique in the project.",
    "Pool.name": "Pool name (default: the listener's name).",
    "Pool.algorithm": "How requests are spread over the members.",
    "Pool.protocol": "Protocol to the members: HTTP, or HTTPS to re-encrypt.",
    "Pool.session_persistence": "Keep a client on one member.",
    "Pool.health_monitor": "Health check of the members; omit for none.",
    "Pool.members": "Backend servers.",
    "SessionPersistence.type": "SOURCE_IP, HTTP_COOKIE (set by the load balancer) or APP_COOKIE.",
    "SessionPersistence.cookie_name": "The application's cookie (APP_COOKIE only).",
    "SessionPersistence.timeout_minutes": "Minutes a persistence entry lasts (1-1440).",
    "HealthMonitor.type": "TCP, HTTP or HTTPS check.",
    "HealthMonitor.delay": "Seconds between checks (1-50).",
    "HealthMonitor.timeout": "Seconds to wait for an answer (1-300).",
    "HealthMonitor.max_retries": "Consecutive successes to mark a member healthy (1-10).",
    "HealthMonitor.url_path": "Path requested by HTTP/HTTPS checks.",
    "HealthMonitor.expected_codes": "Healthy status codes: 200, 200,202 or 200-299.",
    "HealthMonitor.http_method": "Method of HTTP/HTTPS checks.",
    "HealthMonitor.monitor_port": "Port to check instead of each member's port.",
    "Member.address": "IP address of the backend server.",
    "Member.port": "Port of the backend server.",
    "Member.weight": "Share of the traffic (0-100; 0 sends none).",
    "Member.subnet_id": "Subnet of the member (the IPv4 subnet id); omit for IP members.",
    **{
        f"InsertHeaders.{name}": _HEADER.format(header)
        for name, header in {
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
            "client_cert_subject_dn": "X-Forwarded-Clientcert-subjectdn",
            "client_cert_issuer_dn": "X-Forwarded-Clientcert-issuerdn",
            "client_cert_fingerprint": "X-Forwarded-Clientcert-fingerprint",
            "client_cert_verify": "X-Forwarded-Clientcert-clientverify",
            "client_cert_serial": "X-Forwarded-Clientcert-serialnumber",
        }.items()
    },
}

# What the loader replaces from the environment before validation (spec/load.py).
ENV_VALUE: dict[str, Any] = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*\}",
    "description": "A value from the environment: `${VAR}` (the loader substitutes it).",
}
_META = ("title", "description", "default", "examples")
_SCALAR_TYPES = {"integer", "number", "boolean"}


def spec_schema() -> dict[str, Any]:
    from elb_mtls_deploy.spec.model import Spec

    schema = Spec.model_json_schema(by_alias=True)
    for definition, node in [("Spec", schema), *schema.get("$defs", {}).items()]:
        for name, body in (node.get("properties") or {}).items():
            described = DESCRIPTIONS.get(f"{definition}.{name}")
            if described and not body.get("description"):
                body["description"] = described
            if name != "kind":  # the discriminator of the target must stay a literal
                node["properties"][name] = _accept_env(body)
    return schema


def _accept_env(body: dict[str, Any]) -> dict[str, Any]:
    """A constrained scalar also accepts `${VAR}`; objects, arrays and free text stay."""
    inner = {k: v for k, v in body.items() if k not in _META}
    options = inner.get("anyOf", [inner])
    if not any(_constrained_scalar(o) for o in options):
        return body
    meta = {k: v for k, v in body.items() if k in _META}
    return {**meta, "anyOf": [*options, ENV_VALUE]}


def _constrained_scalar(option: dict[str, Any]) -> bool:
    kind = option.get("type")
    if kind in _SCALAR_TYPES or "const" in option:
        return True
    return kind == "string" and any(k in option for k in ("pattern", "enum", "format"))
