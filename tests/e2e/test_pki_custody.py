"""PKI custody end to end (issue 12): a read-only plan that needs no key, trust anchors
never replaced, stacks kept apart, a purge that deletes only what the stack made, and a
saved plan that issues exactly what it showed. CLI -> official SDK -> HTTP -> emulator."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.pki import layout
from elb_mtls_deploy.pki.keys import generate_key, key_to_pem
from tests.e2e.conftest import Stack, spec_text

pytestmark = pytest.mark.slow

WIDER = "dns_names: [www.test.com, api.test.com]"


def external_keys(text: str) -> str:
    """Both CAs keep their keys outside the PKI directory (CI variables)."""
    for ca, var in (("Server", "SERVER_CA_KEY"), ("Client", "CLIENT_CA_KEY")):
        line = f"          subject: {{common_name: E2E {ca} CA}}"
        text = text.replace(line, f"{line}\n          key: {{env: {var}}}")
    return text


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def cloud_cas(stack: Stack, prefix: str = "e2e") -> dict[str, str]:
    return {
        c["name"]: c["certificate"]
        for c in stack.cloud()["certificates"]
        if c["type"] == "client" and str(c["name"]).startswith(f"{prefix}-")
    }


def requests(stack: Stack) -> int:
    return int(stack.server.emulator.stats.snapshot()["total"])


def ok(stack: Stack, *args: str) -> str:
    code, out, err = stack.run(*args)
    assert code == 0, out + err
    return out


def test_plan_on_a_fresh_checkout_writes_no_file_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "checkout"
    project.mkdir()
    spec = project / "spec.yaml"
    spec.write_text(_example())
    monkeypatch.chdir(project)
    # The official SDK writes a user-agent id to ~/.huaweicloud/application_id when it is
    # first imported (huaweicloudsdkcore/http/user_agent.py); that is the SDK, not plan.
    import huaweicloudsdkcore.http.user_agent  # noqa: F401

    scratch = Path(tempfile.gettempdir())
    mine = sorted(p.name for p in scratch.iterdir() if p.name.startswith("elb-plan-"))
    before = (tree(tmp_path), sorted(os.listdir(tmp_path)), tree(Path(os.environ["HOME"])))
    assert main(["plan", str(spec), "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "fingerprint: (known after apply: new)" in out
    assert "Plan: 7 to add, 0 to change, 0 to destroy." in out
    assert "ISSUE at apply: ca client-ca (new)" in out
    after = (tree(tmp_path), sorted(os.listdir(tmp_path)), tree(Path(os.environ["HOME"])))
    assert after == before  # no pki/, no .lock, no .elb-emulator/, nothing in HOME
    assert not (project / "pki").exists() and not (project / ".elb-emulator").exists()
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("elb-plan-")) == mine


def _example() -> str:
    root = Path(__file__).resolve().parents[2]
    return (root / "config" / "example.yaml").read_text()


def test_plan_needs_no_private_key_and_apply_issues_after_approval(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {v: key_to_pem(generate_key("ec-p256")) for v in ("SERVER_CA_KEY", "CLIENT_CA_KEY")}
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    stack.write(external_keys(spec_text()))
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    before_cloud = {c["name"]: c["certificate"] for c in stack.cloud()["certificates"]}

    # A merge-request pipeline: no CA key, and no private key may even be read.
    for name in keys:
        monkeypatch.delenv(name)
    real_read = layout.read

    def public_only(path: Path, *, secret: bool) -> bytes:
        assert not secret, f"plan read the secret file {path}"
        return real_read(path, secret=secret)

    monkeypatch.setattr(layout, "read", public_only)
    stack.write(external_keys(spec_text()).replace("dns_names: [www.test.com]", WIDER))
    pki_before = tree(stack.root / "pki")
    code, out, err = stack.run("plan", str(stack.spec), "--detailed-exitcode")
    assert code == 2, out + err
    assert "~ fingerprint: sha256:" in out
    assert "-> (known after apply: subjectAltName changed)" in out
    assert "ISSUE at apply: server www (subjectAltName changed)" in out
    assert "apply signs with CA server-ca's key from environment variable SERVER_CA_KEY" in out
    assert tree(stack.root / "pki") == pki_before
    monkeypatch.setattr(layout, "read", real_read)

    # Apply without the key that must sign: exit 1 before any API call.
    calls = requests(stack)
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1 and "SERVER_CA_KEY is not set" in err, out + err
    assert requests(stack) == calls and tree(stack.root / "pki") == pki_before

    monkeypatch.setenv("SERVER_CA_KEY", keys["SERVER_CA_KEY"])
    out = ok(stack, "apply", str(stack.spec), "--auto-approve")
    assert "issued   server www" in out
    after_cloud = {c["name"]: c["certificate"] for c in stack.cloud()["certificates"]}
    assert after_cloud["e2e-www"] != before_cloud["e2e-www"]
    assert after_cloud["e2e-client-ca"] == before_cloud["e2e-client-ca"]
    assert "No changes" in ok(stack, "plan", str(stack.spec))


def test_a_lost_pki_directory_never_replaces_a_trust_anchor(stack: Stack, tmp_path: Path) -> None:
    stack.write(spec_text())
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    anchors = cloud_cas(stack)
    saved = tmp_path.parent / f"{tmp_path.name}-pki-backup"
    shutil.move(stack.root / "pki", saved)  # a cleared CI cache, another runner

    code, out, err = stack.run("plan", str(stack.spec))
    assert code == 1, out + err
    assert "CA client-ca: its certificate (id " in out
    assert "its key is not in the PKI directory" in out and "Restore " in out
    assert "~ certificate   client-ca" not in out and "+ certificate   client-ca" not in out
    assert not (stack.root / "pki").exists()  # plan wrote nothing
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1 and "the plan has conflicts; nothing was changed" in err
    assert cloud_cas(stack) == anchors

    # `deploy certs` offline makes a new CA: the plan then refuses to upload it.
    ok(stack, "certs", str(stack.spec))
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1, out + err
    assert "holds a different CA" in out and "stop working" in out
    assert cloud_cas(stack) == anchors

    shutil.rmtree(stack.root / "pki")
    shutil.move(saved, stack.root / "pki")
    code, out, _ = stack.run("plan", str(stack.spec), "--detailed-exitcode")
    assert code == 0 and "No changes" in out


def test_two_stacks_in_one_directory_keep_their_own_cas(stack: Stack) -> None:
    stack.write(spec_text())
    other = stack.root / "other.yaml"
    other.write_text(
        stack.spec.read_text()
        .replace("stack: e2e", "stack: e2f")
        .replace("port: 443", "port: 8443")
    )
    seen: dict[str, set[str]] = {}
    for _ in range(3):
        for spec in (stack.spec, other):
            ok(stack, "apply", str(spec), "--auto-approve")
            for prefix in ("e2e", "e2f"):
                for name, pem in cloud_cas(stack, prefix).items():
                    seen.setdefault(name, set()).add(pem)
    assert set(seen) == {"e2e-client-ca", "e2f-client-ca"}
    assert all(len(pems) == 1 for pems in seen.values()), "a CA fingerprint changed"
    assert seen["e2e-client-ca"] != seen["e2f-client-ca"]
    for prefix in ("e2e", "e2f"):
        manifest = json.loads((stack.root / "pki" / prefix / "manifest.json").read_text())
        assert manifest["stack"] == prefix
        assert len(manifest["entries"]["client-ca"]["generations"]) == 1


def test_purge_refuses_the_spec_directory_and_deletes_nothing(stack: Stack) -> None:
    stack.write(spec_text() + "    pki_dir: .\n")
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    before = tree(stack.root)
    code, _, err = stack.run("destroy", str(stack.spec), "--auto-approve", "--purge-pki")
    assert code == 1 and "refusing --purge-pki" in err and "nothing was deleted" in err
    assert stack.owned("listeners"), "the cloud was destroyed despite the refusal"
    assert {k: v for k, v in tree(stack.root).items() if not k.startswith(".elb")} == {
        k: v for k, v in before.items() if not k.startswith(".elb")
    }


def test_purge_deletes_only_the_files_the_manifest_lists(stack: Stack) -> None:
    stack.write(spec_text())
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    pki = stack.root / "pki"
    (pki / "notes.txt").write_text("mine")
    (pki / "e2e" / "www" / "keep.txt").write_text("mine too")
    out = ok(stack, "destroy", str(stack.spec), "--auto-approve", "--purge-pki")
    assert "PKI file(s) this stack made" in out
    assert sorted(str(p.relative_to(pki)) for p in pki.rglob("*") if p.is_file()) == [
        "e2e/www/keep.txt",
        "notes.txt",
    ]


def test_a_saved_plan_issues_exactly_what_it_showed(stack: Stack) -> None:
    stack.write(spec_text())
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    stack.write(spec_text().replace("dns_names: [www.test.com]", WIDER))
    saved = stack.root / "plan.json"
    code, out, _ = stack.run("plan", str(stack.spec), "--out", str(saved))
    assert code == 0 and "(known after apply: subjectAltName changed)" in out
    document: dict[str, Any] = json.loads(saved.read_text())
    assert "ISSUE at apply: server www (subjectAltName changed)" in document["notes"]
    assert "PRIVATE KEY" not in saved.read_text()

    # The PKI moved on after the plan (someone ran `deploy certs`): refused.
    ok(stack, "certs", str(stack.spec))
    code, out, err = stack.run("apply", str(saved), "--auto-approve")
    assert code == 1 and "changed since this plan was made" in err, out + err

    # A fresh plan, applied as saved: exactly the one certificate it names is issued.
    stack.write(spec_text())  # back to one SAN: www must be issued again
    code, _, _ = stack.run("plan", str(stack.spec), "--out", str(saved))
    assert code == 0
    generations = _generations(stack, "www")
    out = ok(stack, "apply", str(saved), "--auto-approve")
    assert "issued   server www" in out and "issued   ca" not in out
    assert _generations(stack, "www") == generations + 1
    assert _generations(stack, "client-ca") == 1


def _generations(stack: Stack, name: str) -> int:
    manifest = json.loads((stack.root / "pki" / "e2e" / "manifest.json").read_text())
    return len(manifest["entries"][name]["generations"])


def test_dropping_a_trusted_ca_is_flagged_in_the_plan(stack: Stack) -> None:
    stack.write(spec_text())
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    text = spec_text().replace(
        "        - name: client-ca\n",
        "        - name: new-ca\n          subject: {common_name: E2E Client CA 2}\n"
        "        - name: client-ca\n",
    )
    stack.write(text.replace("client_ca: client-ca", "client_ca: new-ca"))
    code, out, _ = stack.run("plan", str(stack.spec))
    assert code == 0
    assert (
        "WARNING: listener www stops trusting CA client-ca: all client certificates issued by "
        "the old CA stop working"
    ) in out


def test_the_state_dir_is_found_from_any_working_directory(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.write(spec_text())
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    elsewhere = stack.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = stack.run("plan", str(stack.spec), "--detailed-exitcode")
    assert code == 0 and "No changes" in out
    assert not (elsewhere / ".elb-emulator").exists()


LEFTOVERS = (".partial", ".tmp")
_KILLED_APPLY = """
import os, signal, sys
from elb_mtls_deploy.pki import layout
count = 0
def hook(label):
    global count
    count += 1
    if count == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
layout.crash_hook = hook
from elb_mtls_deploy.cli import main
sys.exit(main(["apply", sys.argv[2], "--auto-approve"]))
"""


def test_a_kill_at_pki_steps_of_apply_is_repaired_by_the_next_apply(stack: Stack) -> None:
    """`deploy apply` (a real process, SIGKILLed at its Nth PKI file operation), then the
    next apply: it must finish, upload what it issued, and leave a sound PKI."""
    import signal
    import subprocess
    import sys

    stack.write(spec_text())
    script = stack.root / "killed_apply.py"
    script.write_text(_KILLED_APPLY)
    killed = 0
    for step in (1, 3, 6, 10, 15, 21, 28, 36, 45, 55):
        done = subprocess.run(
            [sys.executable, str(script), str(step), str(stack.spec)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != -signal.SIGKILL:
            assert done.returncode == 0, done.stdout + done.stderr
            break
        killed += 1
        out = ok(stack, "apply", str(stack.spec), "--auto-approve")  # the next run repairs
        assert "Apply complete; a fresh plan shows no changes." in out
        leftovers = [p for p in (stack.root / "pki").rglob("*") if p.name.endswith(LEFTOVERS)]
        assert leftovers == []
        code, out, _ = stack.run("plan", str(stack.spec), "--detailed-exitcode")
        assert code == 0 and "No changes" in out
        ok(stack, "destroy", str(stack.spec), "--auto-approve", "--purge-pki")
        assert not (stack.root / "pki").exists()
    assert killed >= 5, "the kill points ran out before apply's PKI work did"


def test_plan_refuses_a_bad_imported_certificate_before_any_api_call(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    from elb_mtls_deploy.pki import issue_ca, issue_server
    from elb_mtls_deploy.spec.model import Subject

    now = datetime.now(UTC)
    ca = issue_ca(Subject(common_name="Old CA"), "rsa-2048", 3650, now)
    leaf = issue_server(
        ca, Subject(common_name="www.test.com"), "rsa-2048", 30, now,
        dns_names=("www.test.com",), not_before=now - timedelta(days=60),
        not_after=now - timedelta(days=1),
    )  # fmt: skip
    (stack.root / "www.crt").write_text(leaf.certificate_pem)
    (stack.root / "www.key").write_text(leaf.key_pem)
    text = spec_text().replace(
        "        - name: www\n          issuer: server-ca\n"
        "          subject: {common_name: www.test.com}\n          dns_names: [www.test.com]\n",
        "        - name: www\n          import: {certificate: www.crt, key: {file: www.key}}\n",
    )
    assert "import:" in text
    stack.write(text)
    calls = requests(stack)
    code, out, err = stack.run("plan", str(stack.spec))
    assert code == 1 and "expired" in err, out + err
    assert requests(stack) == calls


def test_a_lost_ca_inside_a_rollover_bundle_is_not_reissued(stack: Stack, tmp_path: Path) -> None:
    text = spec_text().replace(
        "        - name: client-ca\n",
        "        - name: new-ca\n          subject: {common_name: E2E Client CA 2}\n"
        "        - name: client-ca\n",
    )
    stack.write(text.replace("client_ca: client-ca", "client_ca: [client-ca, new-ca]"))
    ok(stack, "apply", str(stack.spec), "--auto-approve")
    bundle = cloud_cas(stack)["e2e-client-ca+new-ca"]
    shutil.move(stack.root / "pki", tmp_path.parent / f"{tmp_path.name}-gone")
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1, out + err
    assert "(in the bundle client-ca+new-ca) is in the cloud" in out
    assert cloud_cas(stack)["e2e-client-ca+new-ca"] == bundle
