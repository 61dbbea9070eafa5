"""Spec documents for the campaigns: the repository's example and a large stack, plus
seeded variants of each (the spec change a round applies).

A variant is always derived from the *base* document, never from the previous round's
variant, so a round's diff both makes new changes and undoes the previous round's: member
adds and removes, weight changes, a listener port change (replace of the listener, pool,
monitor and members), mutual TLS on/off, a server certificate re-issued with another SAN
(rotation in place), a monitor change, a listener added or removed.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]

_CLIENT_CERT_HEADERS = (
    "client_cert_subject_dn",
    "client_cert_issuer_dn",
    "client_cert_fingerprint",
    "client_cert_verify",
    "client_cert_serial",
)


def example_base(state_dir: Path) -> Doc:
    """config/example.yaml with an absolute emulator state dir."""
    doc: Doc = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    doc["target"]["state_dir"] = str(state_dir)
    return doc


def large_base(state_dir: Path, listeners: int = 4, members_per_pool: int = 30) -> Doc:
    """Several mutual-TLS listeners sharing two server certificates, 120 members by default."""
    ca = {"key_type": "ec-p256", "validity_days": 3650}
    leaf = {"issuer": "server-ca", "key_type": "ec-p256", "validity_days": 397}
    doc: Doc = {
        "version": 1,
        "stack": "rel-large",
        "target": {"kind": "embedded", "state_dir": str(state_dir)},
        "pki_dir": "pki",
        "certificates": {
            "cas": [
                {"name": "server-ca", "subject": {"common_name": "Large Server CA"}, **ca},
                {"name": "client-ca", "subject": {"common_name": "Large Client CA"}, **ca},
            ],
            "servers": [
                {"name": "www", "subject": {"common_name": "www.test.com"},
                 "dns_names": ["www.test.com"], **leaf},
                {"name": "api", "subject": {"common_name": "api.test.com"},
                 "dns_names": ["api.test.com"], **leaf},
            ],
        },
        "listeners": [_large_listener(i, members_per_pool) for i in range(listeners)],
    }  # fmt: skip
    return doc


def _large_listener(index: int, members: int) -> Doc:
    return {
        "name": f"l{index}",
        "loadbalancer": {"name": "emulator-dedicated-lb"},
        "port": 8000 + index,
        "server_certificate": "www" if index % 2 == 0 else "api",
        "client_ca": "client-ca",
        "insert_headers": {"forwarded_port": True, "client_cert_subject_dn": True},
        "pool": {
            "algorithm": "ROUND_ROBIN",
            "protocol": "HTTP",
            "health_monitor": {"type": "HTTP", "url_path": "/healthz"},
            "members": [
                {"address": f"192.168.{index}.{10 + j}", "port": 8080, "weight": 10}
                for j in range(members)
            ],
        },
    }


def variant(base: Doc, rng: random.Random) -> tuple[Doc, list[str]]:
    """A seeded change of `base`: (document, names of the mutations applied)."""
    doc = copy.deepcopy(base)
    listeners = doc["listeners"]
    big = len(listeners) > 1
    names: list[str] = []
    mutations = [
        ("weights", 0.5, _weights),
        ("members", 0.5, _members),
        ("port", 0.25, _port),
        ("one-way", 0.2, _one_way),
        ("rotate", 0.2, _rotate),
        ("monitor", 0.25, _monitor),
        ("algorithm", 0.2, _algorithm),
        ("drop-listener" if big else "add-listener", 0.2, _listeners),
    ]
    while not names:
        for name, chance, mutate in mutations:
            if rng.random() < chance:
                mutate(doc, rng)
                names.append(name)
    return doc, names


def _pick(doc: Doc, rng: random.Random) -> Doc:
    listener: Doc = rng.choice(doc["listeners"])
    return listener


def _weights(doc: Doc, rng: random.Random) -> None:
    for member in _pick(doc, rng)["pool"]["members"]:
        if rng.random() < 0.5:
            member["weight"] = rng.randint(0, 100)


def _members(doc: Doc, rng: random.Random) -> None:
    pool = _pick(doc, rng)["pool"]
    members = pool["members"]
    for _ in range(min(len(members) - 1, rng.randint(1, 5))):
        members.pop(rng.randrange(len(members)))
    taken = {(m["address"], m["port"]) for m in members}
    address = members[0]["address"] if members else "127.0.0.1"
    for _ in range(rng.randint(1, 5)):
        port = rng.randint(20000, 20100)
        if (address, port) not in taken:
            taken.add((address, port))
            members.append({"address": address, "port": port, "weight": 5})


def _port(doc: Doc, rng: random.Random) -> None:
    listener = _pick(doc, rng)
    listener["port"] = listener["port"] + 10000  # still unique on the load balancer


def _one_way(doc: Doc, rng: random.Random) -> None:
    listener = _pick(doc, rng)
    listener.pop("client_ca", None)
    headers = listener.get("insert_headers") or {}
    for name in _CLIENT_CERT_HEADERS:
        headers.pop(name, None)


def _rotate(doc: Doc, rng: random.Random) -> None:
    server = rng.choice(doc["certificates"]["servers"])
    server["dns_names"] = [*server["dns_names"], f"rotated-{rng.randint(1, 3)}.test.com"]


def _monitor(doc: Doc, rng: random.Random) -> None:
    pool = _pick(doc, rng)["pool"]
    if rng.random() < 0.5:
        pool.pop("health_monitor", None)
    else:
        pool["health_monitor"] = {"type": "TCP", "delay": rng.randint(2, 9)}


def _algorithm(doc: Doc, rng: random.Random) -> None:
    _pick(doc, rng)["pool"]["algorithm"] = rng.choice(["LEAST_CONNECTIONS", "SOURCE_IP"])


def _listeners(doc: Doc, rng: random.Random) -> None:
    listeners = doc["listeners"]
    if len(listeners) > 1:
        listeners.pop(rng.randrange(len(listeners)))
        return
    listeners.append(
        {
            "name": "api",
            "loadbalancer": {"name": listeners[0]["loadbalancer"]["name"]},
            "port": 9443,
            "server_certificate": listeners[0]["server_certificate"],
            "pool": {
                "members": [
                    {"address": "127.0.0.1", "port": 18090 + i, "weight": 1} for i in range(3)
                ]
            },
        }
    )


def write(doc: Doc, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
