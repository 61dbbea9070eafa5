"""Values that pass a type check but are wrong, refused before any API call (issue 14
item 6), and the spec file read with a bound on what is read (item 5)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from test_load import VALID, write

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.load import MAX_SPEC_BYTES, load_spec

MONITOR = "    pool:\n      health_monitor: {type: HTTP, %s}\n"


def with_monitor(setting: str) -> str:
    return VALID.replace("    pool:\n", MONITOR % setting)


# (name, spec text, expected fragment of the message)
REFUSED = [
    (
        "escaped NUL in a subject (null-prefix certificate)",
        VALID.replace("common_name: www.test.com}", 'common_name: "www.bank.com\\0.evil.com"}'),
        "control character U+0000",
    ),
    (
        "escaped newline in an organisation",
        VALID.replace("{common_name: Root CA}", '{common_name: Root CA, organization: "A\\nB"}'),
        "control character U+000A",
    ),
    (
        "escaped DEL in a locality",
        VALID.replace("{common_name: Root CA}", '{common_name: R, locality: "x\\x7f"}'),
        "U+007F",
    ),
    ("url_path of 81 characters", with_monitor("url_path: /" + "a" * 80), "at most 80"),
    (
        "url_path with CR LF",
        with_monitor('url_path: "/health\\r\\nX-Evil: 1"'),
        "no spaces, CR or LF",
    ),
    (
        "url_path with a trailing newline",
        with_monitor('url_path: "/health\\n"'),
        "no spaces, CR or LF",
    ),
    ("url_path without a leading slash", with_monitor("url_path: health"), "start with '/'"),
    ("url_path with a space", with_monitor('url_path: "/a b"'), "no spaces"),
    ("expected_codes backwards", with_monitor('expected_codes: "999-100"'), "outside 200-599"),
    (
        "expected_codes range low > high",
        with_monitor('expected_codes: "300-200"'),
        "runs backwards",
    ),
    ("expected_codes below 200", with_monitor('expected_codes: "100"'), "outside 200-599"),
    ("expected_codes above 599", with_monitor('expected_codes: "200,600"'), "outside 200-599"),
    (
        "expected_codes mixed forms",
        with_monitor('expected_codes: "200-204,300"'),
        "a list (200,202)",
    ),
    (
        "expected_codes trailing newline",
        with_monitor('expected_codes: "200\\n"'),
        "not a status code",
    ),
    (
        "enterprise project id malformed",
        VALID.replace(
            "target: {kind: embedded}",
            "target: {kind: huaweicloud, region: cn-north-4, enterprise_project_id: ''}",
        ),
        "enterprise_project_id",
    ),
]


@pytest.mark.parametrize(("name", "text", "fragment"), REFUSED, ids=[r[0] for r in REFUSED])
def test_wrong_values_are_refused_with_their_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err + captured.out
    assert f"{path}:" in captured.err and fragment in captured.err, captured.err


@pytest.mark.parametrize(
    "setting",
    [
        "url_path: /" + "a" * 79,
        'url_path: "/health?probe&x%20#frag;~!()*[]@$^:\',+"',
        'expected_codes: "200"',
        'expected_codes: "200,202,301"',
        'expected_codes: "200-299"',
        'expected_codes: "599-599"',
    ],
)
def test_right_values_still_load(tmp_path: Path, setting: str) -> None:
    load_spec(write(tmp_path, with_monitor(setting)), {})


def test_enterprise_project_id_is_optional_on_the_huaweicloud_target(tmp_path: Path) -> None:
    text = VALID.replace(
        "target: {kind: embedded}",
        "target: {kind: huaweicloud, region: cn-north-4, "
        "enterprise_project_id: 0b5e2c4a-1111-4222-8333-944455556666}",
    )
    spec = load_spec(write(tmp_path, text), {})
    assert spec.target.enterprise_project_id == "0b5e2c4a-1111-4222-8333-944455556666"  # type: ignore[union-attr]
    default = load_spec(
        write(tmp_path, text.replace("0b5e2c4a-1111-4222-8333-944455556666", '"0"')), {}
    )
    assert default.target.enterprise_project_id == "0"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- bounded read


def test_dev_zero_is_refused_without_reading_it() -> None:
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(Path("/dev/zero"), {})


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done: list[BaseException | None] = []

    def load() -> None:
        try:
            load_spec(fifo, {})
        except BaseException as exc:  # handed to the test thread
            done.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the old code's open() so the thread can end
        with open(fifo, "wb"):
            pass
        worker.join(timeout=5)
        pytest.fail("load_spec blocked on a FIFO")
    assert isinstance(done[0], SpecError) and "not a regular file" in str(done[0])


def test_a_file_whose_size_lies_is_bounded_by_what_is_read(tmp_path: Path) -> None:
    # /proc files report st_size 0 whatever they hold; a regular file that grows after
    # stat is the same case. Here: a real file one byte over the limit.
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    with pytest.raises(SpecError, match="at most"):
        load_spec(path, {})


def test_validate_of_dev_zero_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/dev/zero"]) == 1
    err = capsys.readouterr().err
    assert "not a regular file" in err and "Traceback" not in err
