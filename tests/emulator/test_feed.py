"""The control plane's feed to the data plane: only a serving emulator loads the data plane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from pathlib import Path
from elb_mtls_deploy.emulator import Emulator
Emulator(Path(sys.argv[1]), dataplane={serving}).close()
print(sorted(m for m in sys.modules if m.startswith("elb_mtls_deploy.emulator.data.")))
"""


def _data_modules_loaded(tmp_path: Path, serving: bool) -> str:
    code = PROBE.format(serving=serving)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_an_emulator_without_a_data_plane_loads_only_the_contract(tmp_path: Path) -> None:
    assert _data_modules_loaded(tmp_path, serving=False).strip() == (
        "['elb_mtls_deploy.emulator.data.contract']"
    )


def test_a_serving_emulator_loads_the_listeners(tmp_path: Path) -> None:
    assert "elb_mtls_deploy.emulator.data.listeners" in _data_modules_loaded(tmp_path, True)
