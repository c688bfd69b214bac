"""docs/DEPLOY.md keeps up with what the manifests do."""

from __future__ import annotations

from tests.deploy.conftest import REPO

from jetson_exporter.deploy import mounts, resources, rules
from jetson_exporter.deploy.options import PROFILES

DOC = (REPO / "docs" / "DEPLOY.md").read_text()


def test_every_checkov_skip_is_listed_with_its_reason() -> None:
    for check in resources.CHECKOV_SKIPS:
        line = next((line for line in DOC.splitlines() if check in line), "")
        assert len(line) > len(check) + 20, f"{check} is not explained in docs/DEPLOY.md"


def test_every_alert_and_profile_is_documented() -> None:
    for alert in rules.alerts():
        assert f"`{alert['alert']}`" in DOC
    for profile in PROFILES:
        assert f"`{profile}`" in DOC


def test_every_host_mount_is_documented() -> None:
    for mount in [*mounts.DEFAULT_MOUNTS, mounts.DEBUGFS_MOUNT]:
        assert f"`{mount.host_path}`" in DOC
