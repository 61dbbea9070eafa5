"""File-system failures a user can fix end in one clear error naming the path (issue 14
item 7), never in "unexpected ...; this is a bug": pki_dir is a file or under a file, the
disk is full (/dev/full), the file system is read-only, permission denied."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.errors import FileSystemError, from_os_error

VALID = """\
stack: fs
target: {kind: embedded}
certificates:
  cas:
    - {name: root, subject: {common_name: Root CA}}
  servers:
    - {name: web, issuer: root, subject: {common_name: www.test.com}, dns_names: [www.test.com]}
listeners:
  - name: web
    loadbalancer: {name: emulator-dedicated-lb}
    server_certificate: web
    client_ca: root
    pool: {members: [{address: 127.0.0.1, port: 8080}]}
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "this is a bug" not in captured.err
    return code, captured.err


def spec_with(tmp_path: Path, extra: str = "") -> Path:
    text = VALID.replace(
        "target: {kind: embedded}", f"target: {{kind: embedded, state_dir: {tmp_path / 'st'}}}"
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text + extra)
    return path


def test_pki_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_with(tmp_path, "pki_dir: pki\n")
    (tmp_path / "pki").write_text("not a directory\n")
    code, err = run(capsys, "certs", str(spec))
    assert code == 1
    assert f"{tmp_path / 'pki'}" in err and "not a directory" in err, err


def test_pki_dir_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_with(tmp_path, "pki_dir: spec.yaml/pki\n")
    code, err = run(capsys, "certs", str(spec))
    assert code == 1
    assert "spec.yaml/pki" in err and "is a file, not a directory" in err, err


def test_disk_full_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    code, err = run(capsys, "plan", str(spec_with(tmp_path)), "--out", "/dev/full")
    assert code == 1
    assert "cannot use /dev/full: the disk is full" in err, err


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "the disk is full"),
    ],
)
def test_os_errors_a_user_can_fix_are_named(number: int, fragment: str) -> None:
    err = from_os_error(OSError(number, "strerror", "/srv/pki/web.key"))
    assert isinstance(err, FileSystemError)
    assert f"cannot use /srv/pki/web.key: {fragment}" in str(err) and "fix:" in str(err)


def test_other_os_errors_stay_bugs() -> None:
    assert from_os_error(OSError(errno.EBADF, "Bad file descriptor")) is None
    assert from_os_error(ValueError("x")) is None
