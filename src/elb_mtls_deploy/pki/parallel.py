"""Issuance on every core: key generation and `.p12` export in worker processes.

Both are CPU-bound in OpenSSL and hold the GIL, so threads do not help; a process pool
does (bench/bench_pki.py). Workers get and return DER bytes over pipes (never files) and
never see a CA key: certificates are still signed in the calling process. Used only for
batches of at least `MIN_BATCH` certificates: below that, starting workers costs more
than it saves. Must not touch the PKI directory.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cryptography.hazmat.primitives import serialization

from elb_mtls_deploy.pki.keys import PrivateKey, generate_key

MIN_BATCH = 8


def worker_count() -> int:
    """Processes worth starting: the idle cores (a busy CI runner gains nothing from more)."""
    cores = os.cpu_count() or 1
    idle = cores - os.getloadavg()[0]
    return max(1, min(cores, 8, round(idle)))


class Workers:
    """A spawn-started pool (fork is unsafe with the threads apply runs)."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)

    def key(self, key_type: str) -> Future[bytes]:
        return self._submit(_generate, key_type)

    def p12(
        self,
        name: str,
        key_der: bytes,
        chain_der: list[bytes],
        password: bytes,
        profile: str,
    ) -> Future[bytes]:
        return self._submit(_export, name, key_der, chain_der, password, profile)

    def _submit(self, fn: Callable[..., bytes], *args: Any) -> Future[bytes]:
        """A broken pool (a worker could not start) gives failed futures, never an error
        here: the caller then does the work in-process."""
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:
            failed: Future[bytes] = Future()
            failed.set_exception(exc)
            return failed

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def key_to_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_from_der(der: bytes) -> PrivateKey:
    """A key a worker generated: our own, so RSA's slow consistency check is skipped."""
    key = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def _generate(key_type: str) -> bytes:
    return key_to_der(generate_key(key_type))


def _export(
    name: str, key_der: bytes, chain_der: list[bytes], password: bytes, profile: str
) -> bytes:
    from cryptography import x509

    from elb_mtls_deploy.pki.p12 import serialize

    certificates = [x509.load_der_x509_certificate(d) for d in chain_der]
    return serialize(name, key_from_der(key_der), certificates, password, profile)
