"""What a probe run found, as values: one `Finding` per behaviour, and the run's `Report`.

Pure: builds the table lines and the JSON document (`--out`) the user sends back. Neither
may hold a secret: findings carry API answers (status, code, message: already redacted by
`errors.CloudError`) and public fields only, never a key, a request body or the SK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from elb_mtls_deploy.probed import FORMAT


@dataclass(frozen=True)
class Answer:
    """One API call's outcome: accepted (2xx), or refused with status, code and message."""

    ok: bool
    status: int | None = None
    code: str | None = None
    message: str | None = None

    @property
    def label(self) -> str:
        if self.ok:
            return "accepted (2xx)"
        return f"refused {self.status or '?'} {self.code or '-'}"


@dataclass(frozen=True)
class Finding:
    """One behaviour: what was done, what the API answered, and whether that is what the
    tool (and the emulator, docs/emulator.md) assume. `match` is None when skipped."""

    name: str
    question: str
    did: str
    assumption: str
    observed: str
    match: bool | None
    answer: Answer | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    consequence: str | None = None  # what the tool does about a mismatch (docs/probe.md)


@dataclass
class Report:
    run: str
    tool_version: str
    sdk_version: str
    region: str
    api: str
    loadbalancer: Mapping[str, Any]
    findings: list[Finding] = field(default_factory=list)
    removed_leftovers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    aborted: str | None = None

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.findings if f.match is False]


def document(report: Report) -> dict[str, Any]:
    """The JSON a user attaches to an issue (docs/probe.md)."""
    return {
        "format": FORMAT,
        "run": report.run,
        "tool_version": report.tool_version,
        "sdk_version": report.sdk_version,
        "region": report.region,
        "api": report.api,
        "loadbalancer": dict(report.loadbalancer),
        "probes": [_finding(f) for f in report.findings],
        "cleanup": {
            "leftovers_removed": report.removed_leftovers,
            "removed": report.removed,
            "left_behind": report.left_behind,
        },
        "aborted": report.aborted,
    }


def _finding(finding: Finding) -> dict[str, Any]:
    out = asdict(finding)
    out["fields"] = dict(finding.fields)
    return out


def table(report: Report) -> list[str]:
    """One row per probe (name, match, what the API did), then the details of each."""
    lb = report.loadbalancer
    lines = [
        f"probe run {report.run}: {report.api} on {lb.get('type')} load balancer "
        f"{lb.get('name')} ({lb.get('id')}), region {report.region}, "
        f"SDK huaweicloudsdkelb {report.sdk_version}",
        "",
        f"  {'probe':<26} {'match':<8} observed",
    ]
    for f in report.findings:
        mark = "skipped" if f.match is None else ("yes" if f.match else "NO")
        lines.append(f"  {f.name:<26} {mark:<8} {f.observed}")
    skipped = sum(f.match is None for f in report.findings)
    lines.append(
        f"{len(report.findings)} probes: {len(report.findings) - skipped - len(report.mismatches)}"
        f" match, {len(report.mismatches)} differ, {skipped} skipped"
    )
    lines.append("")
    for f in report.findings:
        lines.append(f"{f.name}: {f.question}")
        lines.append(f"  did:      {f.did}")
        if f.skipped:
            lines.append(f"  skipped:  {f.skipped}")
        if f.answer is not None:
            lines.append(f"  answer:   {f.answer.label}")
            if f.answer.message:
                lines.append(f"  message:  {f.answer.message}")
        for name, value in f.fields.items():
            lines.append(f"  {name}: {value}")
        lines.append(f"  assumed:  {f.assumption}")
        if f.match is False and f.consequence:
            lines.append(f"  so:       {f.consequence}")
    return lines
