"""The verify results as JUnit XML (what GitLab's `artifacts:reports:junit` shows).

One `<testcase>` per check: `classname` = listener, `name` = check; a failed check has a
`<failure>` with the actionable message, a skipped one a `<skipped>` with the reason.
Only results go in: no PEM, no key, no password ever reaches this module.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from elb_mtls_deploy.verify.matrix import Result


def to_xml(results: Sequence[Result], suite: str = "deploy verify") -> bytes:
    failures = sum(1 for r in results if r.status == "fail")
    skipped = sum(1 for r in results if r.status == "skip")
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", counts)
    testsuite = ET.SubElement(root, "testsuite", {"name": suite, **counts, "skipped": str(skipped)})
    for result in results:
        case = ET.SubElement(
            testsuite, "testcase", {"classname": result.listener, "name": result.check, "time": "0"}
        )
        if result.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": result.detail, "type": "check"})
            failure.text = result.detail
        elif result.status == "skip":
            ET.SubElement(case, "skipped", {"message": result.detail})
        else:
            ET.SubElement(case, "system-out").text = result.detail
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write(path: Path, results: Sequence[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_xml(results))
