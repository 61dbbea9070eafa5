"""`open_endpoint`, the one place that decides where the cloud is (plan, apply, verify,
output and import all open it): the region's, the running emulator, or one started."""

from __future__ import annotations

from pathlib import Path

from elb_mtls_deploy.emulator import DEMO_AK, start_server
from elb_mtls_deploy.workflow.session import open_endpoint

ENV = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE", "HUAWEICLOUD_SDK_SK": "sk-0123456789abcdef"}
PROJECT = "0" * 32


def test_a_region_is_its_endpoint_with_the_environments_credentials() -> None:
    with open_endpoint(ENV, region="cn-north-4", project_id=PROJECT) as where:
        assert where.url == "https://elb.cn-north-4.myhuaweicloud.com"
        assert (where.credentials.access_key, where.credentials.project_id) == (
            "AKEXAMPLE",
            PROJECT,
        )
        assert where.state_dir is None
    with open_endpoint(ENV, region="cn-north-4", project_id=PROJECT, url="https://elb.test") as w:
        assert w.url == "https://elb.test"  # the spec's `endpoint:` wins


def test_plan_over_no_state_gets_a_scratch_emulator_and_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "emu"
    with open_endpoint({}, region=None, state_dir=state, scratch_if_new=True) as where:
        assert where.url.startswith("http://127.0.0.1:")
        assert where.credentials.access_key == DEMO_AK
        assert where.state_dir is None  # nothing kept: no "the emulator keeps ..." hint
        assert not state.exists()
    assert not state.exists()


def test_otherwise_the_state_directory_is_created_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "emu"
    with open_endpoint({}, region=None, state_dir=state) as where:
        assert where.state_dir == state and state.is_dir()
    assert (state / "emulator.db").exists()


def test_a_running_emulator_is_used_rather_than_a_second_one(tmp_path: Path) -> None:
    state = tmp_path / "emu"
    with (
        start_server(state, announce=True, dataplane=False) as server,
        open_endpoint({}, region=None, state_dir=state, scratch_if_new=True) as where,
    ):
        assert (where.url, where.state_dir) == (server.endpoint, state)
