"""Importing existing material: a leaf, its chain and its private key, from files or the
environment.

Owns path resolution (relative to the spec's directory), reading the sources and turning
every failure into a `CertificateError` that names the file or variable and says how to fix
it. Must not write anything (imported keys are never copied into the PKI dir) and never
put key material or passwords in messages.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.bundle import Bundle, Role
from elb_mtls_deploy.pki.keys import PrivateKey, is_encrypted_pem, key_to_pem, load_key
from elb_mtls_deploy.pki.pem import parse_certificates
from elb_mtls_deploy.spec.model import ImportSource, KeySource


def resolve(path: Path, base_dir: Path) -> Path:
    """Spec paths are relative to the spec file's directory."""
    return path if path.is_absolute() else base_dir / path


# A certificate chain or a key is a few KB; ELB takes at most 11 certificates per upload.
MAX_IMPORT_BYTES = 1024 * 1024


def read_file(path: Path, what: str) -> bytes:
    """At most `MAX_IMPORT_BYTES` of a regular file: /dev/zero, a FIFO or a huge file is
    refused by what is read (not by `st_size`), a FIFO without waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CertificateError(
                f"{what} {path} is not a regular file (a directory, device, FIFO or socket)",
                hint="point the spec at the PEM file itself",
            )
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except FileNotFoundError:
        raise CertificateError(
            f"{what} {path} does not exist",
            hint="check the path (relative paths start at the spec's directory)",
        ) from None
    except OSError as exc:
        raise CertificateError(
            f"cannot read {what} {path}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    if len(data) > MAX_IMPORT_BYTES:
        raise CertificateError(
            f"{what} {path} is larger than {MAX_IMPORT_BYTES} bytes; it cannot be PEM material",
            hint="check the path: a certificate, chain or key file is a few kilobytes",
        )
    return data


def load_certificates(path: Path, what: str = "certificate file") -> list[x509.Certificate]:
    return parse_certificates(read_file(path, what), str(path))


def load_key_source(source: KeySource, base_dir: Path, env: Mapping[str, str]) -> PrivateKey:
    """The key a `KeySource` points at, decrypted with `password_env` when it is encrypted."""
    data, where = _key_bytes(source, base_dir, env)
    password = _password(source, env) if is_encrypted_pem(data) else None
    return load_key(data, where=where, password=password, password_env=source.password_env)


def _key_bytes(source: KeySource, base_dir: Path, env: Mapping[str, str]) -> tuple[bytes, str]:
    if source.file is not None:
        path = resolve(source.file, base_dir)
        return read_file(path, "private key file"), str(path)
    assert source.env is not None  # the model guarantees exactly one of file/env
    value = env.get(source.env, "")
    if not value.strip():
        state = "is not set" if source.env not in env else "is empty"
        raise CertificateError(
            f"environment variable {source.env} {state}; it should hold the private key PEM",
            hint=f'export {source.env}="$(cat ca.key)" '
            "(in GitLab CI: a masked, protected variable)",
        )
    return value.encode("utf-8"), f"environment variable {source.env}"


def _password(source: KeySource, env: Mapping[str, str]) -> bytes | None:
    if source.password_env is None:
        return None
    value = env.get(source.password_env, "")
    if not value:
        state = "is not set" if source.password_env not in env else "is empty"
        raise CertificateError(
            f"the private key is encrypted but environment variable {source.password_env} {state}",
            hint=f"set {source.password_env} to the key's password",
        )
    return value.encode("utf-8")


def import_bundle(
    name: str, role: Role, source: ImportSource, base_dir: Path, env: Mapping[str, str]
) -> Bundle:
    """Leaf, chain (after the leaf in `certificate`, then the `chain` file) and key."""
    certificates = load_certificates(resolve(source.certificate, base_dir))
    chain = certificates[1:]
    if source.chain is not None:
        chain += load_certificates(resolve(source.chain, base_dir), "chain file")
    key = load_key_source(source.key, base_dir, env) if source.key is not None else None
    return Bundle.from_certificates(
        name, role, certificates[0], chain, key_pem=key_to_pem(key) if key is not None else None
    )
