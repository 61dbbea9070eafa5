"""SQLite persistence for the control plane: every resource in one table, the data-plane
ports in another.

Owns connections, transactions and (de)serialisation of records (plain dicts, stored as
JSON); knows nothing of the API beyond a record's ``kind``, ``id``, ``project_id`` and
``pool_id``, and that deleting a listener frees its data-plane port.

The database holds uploaded private keys in clear, so the state directory is 0700 and the
database with its WAL/SHM files 0600 (SQLite gives those the database file's mode).
Every request runs in one transaction; writers take ``BEGIN IMMEDIATE`` so invariant checks
and the write that follows are atomic even across processes sharing the state dir (WAL mode,
busy timeout). Connections come from a small pool, each used by one thread at a time.

Schema::

    resources(seq INTEGER PK AUTOINCREMENT, kind, id UNIQUE, project_id, body JSON)
    bind_ports(listener_id PK, port)   -- data-plane ports, stable across restarts
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Record = dict[str, Any]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources (kind, project_id, seq);
CREATE INDEX IF NOT EXISTS resources_by_pool ON resources (kind, json_extract(body, '$.pool_id'));
CREATE TABLE IF NOT EXISTS bind_ports (listener_id TEXT PRIMARY KEY, port INTEGER NOT NULL);
"""


class Tx:
    """Operations available inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, kind: str, resource_id: str, project_id: str) -> Record | None:
        row = self._conn.execute(
            "SELECT body FROM resources WHERE kind = ? AND id = ? AND project_id = ?",
            (kind, resource_id, project_id),
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def all(self, kind: str, project_id: str | None = None) -> list[Record]:
        """Every record of a kind in creation order (optionally one project only)."""
        if project_id is None:
            rows = self._conn.execute(
                "SELECT body FROM resources WHERE kind = ? ORDER BY seq", (kind,)
            )
        else:
            rows = self._conn.execute(
                "SELECT body FROM resources WHERE kind = ? AND project_id = ? ORDER BY seq",
                (kind, project_id),
            )
        return [dict(json.loads(body)) for (body,) in rows]

    def in_pool(self, kind: str, pool_id: str) -> list[Record]:
        """Members (or monitors) of one pool, by index: a pool's size, not the project's."""
        rows = self._conn.execute(
            "SELECT body FROM resources WHERE kind = ? AND json_extract(body, '$.pool_id') = ? "
            "ORDER BY seq",
            (kind, pool_id),
        )
        return [dict(json.loads(body)) for (body,) in rows]

    def count(self, kind: str, project_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM resources WHERE kind = ? AND project_id = ?", (kind, project_id)
        ).fetchone()
        return int(row[0])

    def insert(self, kind: str, record: Record) -> None:
        self._conn.execute(
            "INSERT INTO resources (kind, id, project_id, body) VALUES (?, ?, ?, ?)",
            (kind, record["id"], record["project_id"], json.dumps(record, sort_keys=True)),
        )

    def update(self, kind: str, record: Record) -> None:
        self._conn.execute(
            "UPDATE resources SET body = ? WHERE kind = ? AND id = ?",
            (json.dumps(record, sort_keys=True), kind, record["id"]),
        )

    def delete(self, kind: str, resource_id: str) -> None:
        self._conn.execute("DELETE FROM resources WHERE kind = ? AND id = ?", (kind, resource_id))
        if kind == "listener":
            self._conn.execute("DELETE FROM bind_ports WHERE listener_id = ?", (resource_id,))

    def bind_ports(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT listener_id, port FROM bind_ports").fetchall())

    def set_bind_ports(self, ports: dict[str, int]) -> None:
        self._conn.executemany(
            "INSERT INTO bind_ports (listener_id, port) VALUES (?, ?) "
            "ON CONFLICT (listener_id) DO UPDATE SET port = excluded.port",
            list(ports.items()),
        )


def _make_private(path: Path) -> None:
    """Create (or tighten) the state directory and database file before SQLite opens it.

    A directory that exists without a database is someone else's (``--state-dir .``): its
    mode is left alone; the files are 0600 anyway.
    """
    ours = not path.parent.exists() or path.exists()
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if ours:
        os.chmod(path.parent, PRIVATE_DIR_MODE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    for name in (path.name, *(path.name + suffix for suffix in _SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):  # WAL/SHM exist only while open
            os.chmod(path.with_name(name), PRIVATE_FILE_MODE)


class Store:
    """The state database at ``path``; thread-safe via a pool of connections."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _make_private(path)
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # executescript commits implicitly, so schema creation runs outside a transaction;
        # IF NOT EXISTS makes concurrent first opens harmless.
        conn = self._acquire()
        try:
            conn.executescript(_SCHEMA)
        finally:
            self._release(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = self._connect()
        with self._lock:
            self._all.append(conn)
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Tx]:
        """One transaction; ``write`` takes the write lock up front (no upgrade deadlocks)."""
        conn = self._acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._release(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            conn.close()
