"""A security scanner from PyPI (checkov) finds nothing wrong with the default profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from jetson_exporter.deploy import render, resources
from jetson_exporter.deploy.options import Options

CHECKOV = Path(sys.executable).parent / "checkov"


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One checkov run per session (it is slow) over the default profile's manifests."""
    directory = tmp_path_factory.mktemp("checkov")
    for rendered in render.render(Options(), "jetson-exporter manifests", directory=str(directory)):
        if rendered.kind == render.RESOURCE:
            (directory / rendered.filename).write_text(rendered.text)
    command = [str(CHECKOV), "--directory", str(directory), "--framework", "kubernetes", "--output", "json",
               "--compact", "--skip-download"]  # --skip-download: no calls to the vendor's API
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net", *command]  # and make sure of it where a network namespace is allowed
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    reports: List[Dict[str, Any]] = report if isinstance(report, list) else [report]
    return next(r for r in reports if r["check_type"] == "kubernetes")


def test_checkov_reports_no_failed_check_on_the_default_profile(checkov_report: Dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert not failed, "\n".join(f"{c['check_id']} {c['check_name']} ({c['resource']})" for c in failed)
    assert checkov_report["summary"]["passed"] >= 50


def test_checkov_skips_only_the_listed_checks(checkov_report: Dict[str, Any]) -> None:
    skipped = {c["check_id"] for c in checkov_report["results"]["skipped_checks"]}
    assert skipped == set(resources.CHECKOV_SKIPS)
