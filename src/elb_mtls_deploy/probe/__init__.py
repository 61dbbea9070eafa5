"""`deploy probe`: settle, in the user's own account, what docs/api-notes.md §9 leaves open.

`run` (sequencing and the cleanup guarantee), `stack` (the probe marker, what was made,
its removal and the sweep of leftovers), `checks` (control-plane probes), `dataplane`
(handshakes through the probe listener), `material` (throwaway certificates), `report`
(findings, the table and the JSON sent back). See docs/probe.md.
"""

from __future__ import annotations

from elb_mtls_deploy.probe.report import Finding, Report, document, table
from elb_mtls_deploy.probe.run import Options, Session, open_session

__all__ = ["Finding", "Options", "Report", "Session", "document", "open_session", "table"]
