"""Issuing certificates: CA, server and client, as pure functions of their inputs and `now`.

Owns the X.509 profile of everything we issue (one `CertificateBuilder` chain per
certificate, like trustme). Must not touch files or the environment: keys come in as
objects or are generated here, and the result is an `Issued` value.

Profile: SHA-256 signatures (SHA-384 for P-384 keys), random serials, not_before five
minutes in the past for clock skew. CAs get `pathLenConstraint=0` because a spec CA only
ever signs leaves; an intermediate would need a spec change anyway.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.bundle import Bundle, Role
from elb_mtls_deploy.pki.keys import PrivateKey, generate_key, key_to_pem, load_key
from elb_mtls_deploy.pki.pem import to_pem
from elb_mtls_deploy.spec.model import Subject

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Issued:
    """A certificate we just made, with its key (secret: not in repr)."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def certificate_pem(self) -> str:
        return to_pem([self.certificate])

    @property
    def key_pem(self) -> str:
        return key_to_pem(self.key)

    def to_bundle(self, name: str, role: Role, issuer_name: str | None = None) -> Bundle:
        return Bundle.from_certificates(
            name, role, self.certificate, key_pem=self.key_pem, issuer_name=issuer_name
        )

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Issued:
        """A bundle with its key, as a signer for `issue_server`/`issue_client`."""
        if bundle.key_pem is None:
            raise CertificateError(
                f"certificate {bundle.name!r} has no private key, so it cannot sign",
                hint="give the CA's key ('key' for a generated CA, 'import.key' for an imported "
                "one)",
            )
        key = load_key(
            bundle.key_pem.encode("ascii"),
            where=f"key of {bundle.name}",
            password=None,
            password_env=None,
        )
        return cls(bundle.certificate, key)


def subject_name(subject: Subject) -> x509.Name:
    """The spec subject as an X.509 name, in the conventional C, ST, L, O, OU, CN order."""
    parts = (
        (NameOID.COUNTRY_NAME, subject.country),
        (NameOID.STATE_OR_PROVINCE_NAME, subject.state),
        (NameOID.LOCALITY_NAME, subject.locality),
        (NameOID.ORGANIZATION_NAME, subject.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, subject.organizational_unit),
        (NameOID.COMMON_NAME, subject.common_name),
    )
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value is not None])


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def issue_ca(
    subject: Subject,
    key_type: str,
    validity_days: int,
    now: datetime,
    *,
    key: PrivateKey | None = None,
) -> Issued:
    """A self-signed root CA; `key` reuses an existing key (e.g. one kept outside the PKI dir)."""
    key = key or generate_key(key_type)
    name = subject_name(subject)
    not_before, not_after = _validity(now, validity_days, None, None)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True, rsa=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, signature_hash(key))
    )
    return Issued(certificate, key)


def issue_server(
    ca: Issued | Bundle,
    subject: Subject,
    key_type: str,
    validity_days: int,
    now: datetime,
    *,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A TLS server leaf (EKU serverAuth) for the SAN names and addresses."""
    if not dns_names and not ip_addresses:
        raise CertificateError(
            f"server certificate {subject.common_name!r} needs a DNS name or IP address",
            hint="add 'dns_names' or 'ip_addresses'; clients ignore the CN",
        )
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in dns_names]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    )
    return _issue_leaf(
        _signer(ca),
        subject,
        key or generate_key(key_type),
        ExtendedKeyUsageOID.SERVER_AUTH,
        _validity(now, validity_days, not_before, not_after),
        san,
    )


def issue_client(
    ca: Issued | Bundle,
    subject: Subject,
    key_type: str,
    validity_days: int,
    now: datetime,
    *,
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A TLS client leaf (EKU clientAuth). Explicit `not_before`/`not_after` allow expired or
    not-yet-valid certificates for negative tests."""
    return _issue_leaf(
        _signer(ca),
        subject,
        key or generate_key(key_type),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        _validity(now, validity_days, not_before, not_after),
        None,
    )


def issue_for_request(
    ca: Issued, request: x509.CertificateSigningRequest, validity_days: int, now: datetime
) -> x509.Certificate:
    """A client leaf for a CSR (`deploy sign`): the key stays where it was made; the CSR's
    subject is kept, its requested extensions are not (our profile decides them)."""
    public = request.public_key()
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError(
            f"the request's key is a {type(public).__name__}",
            hint="make the key RSA (2048+) or EC P-256/P-384",
        )
    validity = _validity(now, validity_days, None, None)
    return _leaf_builder(
        ca, request.subject, public, ExtendedKeyUsageOID.CLIENT_AUTH, validity, None
    ).sign(ca.key, signature_hash(ca.key))


def _issue_leaf(
    ca: Issued,
    subject: Subject,
    key: PrivateKey,
    purpose: x509.ObjectIdentifier,
    validity: tuple[datetime, datetime],
    san: x509.SubjectAlternativeName | None,
) -> Issued:
    builder = _leaf_builder(ca, subject_name(subject), key.public_key(), purpose, validity, san)
    return Issued(builder.sign(ca.key, signature_hash(ca.key)), key)


def _leaf_builder(
    ca: Issued,
    name: x509.Name,
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    purpose: x509.ObjectIdentifier,
    validity: tuple[datetime, datetime],
    san: x509.SubjectAlternativeName | None,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(ca=False, rsa=not isinstance(public, ec.EllipticCurvePublicKey)),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_authority_key_id(ca), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder


def _signer(ca: Issued | Bundle) -> Issued:
    return ca if isinstance(ca, Issued) else Issued.from_bundle(ca)


def _authority_key_id(ca: Issued) -> x509.AuthorityKeyIdentifier:
    # Prefer the CA's own SKI so AKI matches even for imported CAs with non-SHA-1 SKIs.
    try:
        ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(*, ca: bool, rsa: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa and not ca,  # RSA key transport (TLS 1.2 RSA suites)
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _validity(
    now: datetime, days: int, not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime, datetime]:
    if now.tzinfo is None:
        raise CertificateError("'now' must be timezone-aware", hint="pass datetime.now(UTC)")
    # X.509 times have whole seconds; truncate so the bundle's dates equal the certificate's.
    now = now.astimezone(UTC).replace(microsecond=0)
    start = (not_before or now - CLOCK_SKEW).replace(microsecond=0)
    return start, (not_after or now + timedelta(days=days)).replace(microsecond=0)
