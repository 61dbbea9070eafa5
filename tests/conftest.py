"""Shared fixtures: every test runs hermetic — HOME in a temp dir (the SDK writes
~/.huaweicloud/application_id on import) and proxies bypassed for loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_CLOUD_ENV = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HW_ACCESS_KEY",
    "HW_SECRET_KEY",
    "HW_REGION_NAME",
    "HW_PROJECT_ID",
)


@pytest.fixture(autouse=True, scope="session")
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("HOME", "NO_PROXY", "no_proxy", *_CLOUD_ENV)}
    os.environ["HOME"] = str(home)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    for name in _CLOUD_ENV:
        os.environ.pop(name, None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory (the emulator's default state dir lives here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
