"""Verification of the SDK's ``SDK-HMAC-SHA256`` request signatures (docs/api-notes.md §6).

Pure functions: canonicalise the request exactly as the SDK's signer does, recompute the
HMAC with the secret key looked up by AK, compare in constant time. The signed header list
is taken from ``SignedHeaders=`` (§6.2 item 1), never guessed. The unsigned
``X-Sdk-Content-Sha256`` header is trusted only as far as the SDK uses it: a hash must be
the body's, and ``UNSIGNED-PAYLOAD`` is accepted only for the non-JSON content types the
SDK sends it with (§6.1), so a signed request's JSON body cannot be swapped.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from .exceptions import SignatureExpired, SignatureInvalid

ALGORITHM = "SDK-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)  # docs/api-notes.md §6.2 item 9
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SIGNED_BODY_TYPES = ("application/json", "application/bson")  # §6.1
_UNRESERVED = "-_.~"  # quote() keeps A-Z a-z 0-9 always; these four too (§6.2 item 2)


@dataclass(frozen=True)
class Authorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def canonical_uri(raw_path: str) -> str:
    """Decode the whole path, re-encode each segment, ensure a trailing slash (§6.2 item 2)."""
    segments = unquote(raw_path).split("/")
    uri = "/".join(_encode(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    """Decoded pairs sorted by (key, value), re-encoded; ``+`` is not a space (§6.2 item 3)."""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def canonical_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    """The canonical request of §6.2 item 6. ``headers`` keys must be lower-case."""
    raw_path, _, raw_query = target.partition("?")
    header_lines = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    payload_hash = payload_hash_of(headers, body)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            header_lines,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def payload_hash_of(headers: Mapping[str, str], body: bytes) -> str:
    """The payload hash to sign; refuses a claimed hash that the body does not have."""
    actual = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-sdk-content-sha256")
    if claimed is None:
        return actual
    if claimed == UNSIGNED_PAYLOAD:
        content_type = headers.get("content-type", "").strip().lower()
        if content_type.startswith(_SIGNED_BODY_TYPES):
            raise SignatureInvalid(
                "Incorrect IAM authentication information: UNSIGNED-PAYLOAD is not accepted "
                "for a JSON body"
            )
        return claimed
    if not hmac.compare_digest(claimed.strip().lower(), actual):
        raise SignatureInvalid(
            "Incorrect IAM authentication information: X-Sdk-Content-Sha256 does not match the body"
        )
    return actual


def string_to_sign(sdk_date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    """HMAC-SHA256 keyed with the SK bytes directly, no derivation (§6.2 item 8)."""
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> Authorization:
    """Parse ``SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`` (§6.1)."""
    scheme, _, params = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise SignatureInvalid(f"Incorrect IAM authentication information: unsupported {scheme!r}")
    fields: dict[str, str] = {}
    for part in params.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    try:
        return Authorization(
            access_key=fields["Access"],
            signed_headers=tuple(h for h in fields["SignedHeaders"].lower().split(";") if h),
            signature=fields["Signature"].lower(),
        )
    except KeyError as exc:
        raise SignatureInvalid(
            f"Incorrect IAM authentication information: Authorization lacks {exc.args[0]}"
        ) from None


def parse_sdk_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureInvalid(
            f"Incorrect IAM authentication information: bad X-Sdk-Date {value!r}"
        ) from None


def verify(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: datetime,
) -> str:
    """Check the request's signature; return the verified AK or raise a 401 error."""
    lowered = {k.lower(): v for k, v in headers.items()}
    auth_value = lowered.get("authorization")
    if not auth_value:
        raise SignatureInvalid("Incorrect IAM authentication information: Authorization missing")
    auth = parse_authorization(auth_value)
    secret = secret_for(auth.access_key)
    if secret is None:
        raise SignatureInvalid("Incorrect IAM authentication information: ak not found")
    sdk_date = lowered.get("x-sdk-date", "")
    if "x-sdk-date" not in auth.signed_headers:
        raise SignatureInvalid("Incorrect IAM authentication information: x-sdk-date not signed")
    if abs(now - parse_sdk_date(sdk_date)) > MAX_CLOCK_SKEW:
        raise SignatureExpired("Incorrect app authentication information: signature expired")
    canonical = canonical_request(method, target, lowered, auth.signed_headers, body)
    expected = signature(secret, string_to_sign(sdk_date, canonical))
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureInvalid(
            "Incorrect IAM authentication information: verify aksk signature fail"
        )
    return auth.access_key
