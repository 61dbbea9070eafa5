"""The expiry gate: which certificates, local or in the cloud, end within N days. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from elb_mtls_deploy.state import State


def expiry_notes(bundles: Iterable[Any], observed: State, now: datetime, days: int) -> list[str]:
    """One `EXPIRING:` line per certificate ending within `days`: the PKI's bundles
    (`name`, `not_after`) and the stack's certificates in the cloud (`expire_time`)."""
    limit = now + timedelta(days=days)
    notes = [
        f"EXPIRING: certificate {b.name} expires {b.not_after:%Y-%m-%d} (within {days} days)"
        for b in bundles
        if b.not_after <= limit
    ]
    for record in observed.by_kind("certificate"):
        ends = cloud_time(record.fields.get("expire_time"))
        if ends is not None and ends <= limit:
            notes.append(
                f"EXPIRING: cloud certificate {record.name} (id {record.id}) expires "
                f"{ends:%Y-%m-%d} (within {days} days)"
            )
    return notes


def cloud_time(value: Any) -> datetime | None:
    """The API's certificate times: v3 ISO 8601 (`...Z`), v2 `yyyy-MM-dd HH:mm:ss` UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
