"""Where the AK/SK, security token and project come from, and which endpoint a region has
(the region itself is always the spec's `region:`; nothing reads `HW_REGION_NAME`).

Owns the environment-variable contract only; imports no SDK (cheap at start-up) and never
lets the secret key or the token into a message (both are registered for redaction).
Names: the SDK's own ``HUAWEICLOUD_SDK_*`` first, then the Terraform provider's ``HW_*``
(docs/api-notes.md §5.4, §10.1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from elb_mtls_deploy.cloud.base import Credentials
from elb_mtls_deploy.errors import DeployError, register_secret

_AK = ("HUAWEICLOUD_SDK_AK", "HW_ACCESS_KEY")
_SK = ("HUAWEICLOUD_SDK_SK", "HW_SECRET_KEY")
_PROJECT = ("HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID")
# Temporary (STS) credentials: AK/SK plus a security token (docs/api-notes.md §10.1).
_TOKEN = ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "HW_SECURITY_TOKEN")

# Region ids look like cn-north-4, ap-southeast-1, my-kualalumpur-1 (docs/api-notes.md §5.1).
_REGION_ID = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def credentials_from_env(env: Mapping[str, str], project_id: str | None = None) -> Credentials:
    """AK/SK (and a security token, for temporary credentials) from the environment; the
    spec's `project_id` wins over the environment's.

    Missing values raise `DeployError` naming the variables. Without an AK/SK the SDK
    would silently ask the ECS metadata service (docs/api-notes.md §1 item 10), so this refuses.
    """
    ak, sk, token = _first(env, _AK), _first(env, _SK), _first(env, _TOKEN)
    register_secret(sk)
    register_secret(token)
    project = project_id or _first(env, _PROJECT)
    missing = [names for names, value in ((_AK, ak), (_SK, sk), (_PROJECT, project)) if not value]
    if missing or not (ak and sk and project):
        raise DeployError(
            "cloud credentials are incomplete: "
            + "; ".join(f"{' or '.join(names)} is not set" for names in missing),
            hint=f"export {', '.join(names[0] for names in missing)}"
            + (" (or set project_id in the spec)" if _PROJECT in missing else ""),
        )
    return Credentials(access_key=ak, secret_key=sk, project_id=project, security_token=token)


def endpoint_for_region(region: str) -> str:
    """`https://elb.<region>.myhuaweicloud.com`, the same for v2 and v3 (docs/api-notes.md §5.1).

    Computed here instead of `with_region` so that the client never has a fallback
    endpoint next to an explicit one (docs/api-notes.md §1 item 8).
    """
    if not _REGION_ID.match(region):
        raise DeployError(
            f"not a Huawei Cloud region id: {region!r}",
            hint="use an id such as cn-north-4 or ap-southeast-1",
        )
    return f"https://elb.{region}.myhuaweicloud.com"
