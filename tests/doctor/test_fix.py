"""`--fix`: every change shown as a diff first; applied only with --yes; the finding is gone afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jetson_exporter.doctor.facts import dump_facts
from jetson_exporter.doctor.fixer import backup_name, write_with_backup

TOKEN_PART = "bm90LWEtcmVhbC1zaWduYXR1cmU"


def edge_args(root: Path, *more: str) -> list:  # type: ignore[type-arg]
    return ["--edge", "--root", str(root), "--kubeedge-version", "1.15.1", "--color", "never", *more]


def test_edge_fix_shows_each_diff_then_edits_after_a_backup(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(kit.Setup(), tmp_path)
    config = root / "etc/kubeedge/config/edgecore.yaml"
    before = config.read_text()
    _code, out = kit.run_doctor(edge_args(root, "--fix"))
    assert "-    enable: false   # TODO: turn on for kubectl logs (ops ticket 1123)" in out
    assert "+      - 169.254.96.16" in out
    assert "+Environment=METASERVER_DUMMY_IP=kubernetes.default.svc.cluster.local" in out
    assert TOKEN_PART not in out
    backups = [p for p in config.parent.iterdir() if p.name.startswith("edgecore.yaml.bak-")]
    assert len(backups) == 1 and backups[0].read_text() == before
    assert config.read_text() != before
    assert (root / "etc/systemd/system/edgecore.service.d/10-metaserver-dummy.conf").exists()
    assert "The doctor restarts nothing" in out


def test_edge_fix_with_yes_backs_up_edits_and_prints_the_restart(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(kit.Setup(), tmp_path)
    config = root / "etc/kubeedge/config/edgecore.yaml"
    before = config.read_text()
    code, out = kit.run_doctor(edge_args(root, "--fix", "--yes"))
    backups = [p for p in config.parent.iterdir() if p.name.startswith("edgecore.yaml.bak-")]
    assert len(backups) == 1 and backups[0].read_text() == before
    after = config.read_text()
    assert "# TODO: turn on for kubectl logs" in after and "    token: 4d1b9c6f0e2a" in after
    dropin = root / "etc/systemd/system/edgecore.service.d/10-metaserver-dummy.conf"
    assert "Environment=METASERVER_DUMMY_PORT=443" in dropin.read_text()
    assert "The doctor restarts nothing" in out
    assert "sudo systemctl daemon-reload && sudo systemctl restart edgecore" in out
    restarts = out.split("The doctor restarts nothing")[1].split("After the changes")[0]
    assert restarts.count("sudo systemctl restart edgecore") == 1  # folded into the daemon-reload line
    assert f"wrote {config} (backup {backups[0]})" in out
    # what is left needs EdgeMesh on the cluster side: nothing the edge fixer can do
    code, out = kit.run_doctor(edge_args(root, "--output", "json"))
    report = json.loads(out)
    assert {f["id"] for f in report["findings"] if f["severity"] in ("warn", "error")} == {"E3.edgemesh-interface",
                                                                                         "E4.dummy-env"}
    e4 = next(f for f in report["findings"] if f["id"] == "E4.dummy-env")
    assert e4["severity"] == "warn" and "EdgeMesh" in e4["diagnosis"]  # the variables are set now
    (root / "sys/class/net/edgemesh0").mkdir()
    code, out = kit.run_doctor(edge_args(root))
    assert code == 0, out
    assert "all green (exit 0)" in out


def test_only_limits_the_fixes(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(kit.Setup(), tmp_path)
    _code, out = kit.run_doctor(edge_args(root, "--fix", "--only", "E2"))
    assert "+    enable: true" in out and "169.254.96.16" not in out.split("Changes")[1].split("After the changes")[0]


def test_a_second_backup_in_the_same_second_does_not_overwrite_the_first(tmp_path: Path) -> None:
    path = tmp_path / "edgecore.yaml"
    path.write_text("one\n")
    first = write_with_backup(str(path), "two\n", now=1714035600.0)
    second = write_with_backup(str(path), "three\n", now=1714035600.0)
    assert first == backup_name(str(path), 1714035600.0) and second == first + ".1"
    assert Path(first).read_text() == "one\n" and Path(second).read_text() == "two\n"
    assert path.read_text() == "three\n"


def test_recorded_cluster_facts_can_be_fixed_and_the_fixed_facts_rechecked(kit: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    fixed = tmp_path / "fixed.json"
    broken.write_text(dump_facts(kit.cluster_facts(kit.Setup()), None))
    recorded = broken.read_bytes()
    code, out = kit.run_doctor(["--facts", str(broken), "--fix", "--color", "never"])
    assert code == 1
    for target in ("DaemonSet kubesphere-monitoring-system/node-exporter", "Node jetson-nx-01",
                   "ConfigMap kubeedge/cloudcore (cloudcore.yaml)"):
        assert target in out
    assert "-                operator: DoesNotExist\n+        nodeAffinity: {}" in out
    assert "-      dnsPolicy: ClusterFirst\n+      dnsPolicy: ClusterFirstWithHostNet" in out
    assert "-    enable: false\n+    enable: true" in out
    assert broken.read_bytes() == recorded

    code, out = kit.run_doctor(["--facts", str(broken), "--fix", "--yes", "--save-facts", str(fixed),
                                "--color", "never"])
    assert "patched DaemonSet kubesphere-monitoring-system/node-exporter (recorded facts)" in out
    assert "kubectl -n kubeedge delete pod -l kubeedge=cloudcore" in out.split("The doctor restarts nothing")[1]
    code, out = kit.run_doctor(["--facts", str(fixed), "--output", "json"])
    left = {f["id"] for f in json.loads(out)["findings"] if f["severity"] in ("warn", "error", "skip")}
    assert not left & {"C3.dynamic-controller", "C4.node-exporter-affinity", "C6.dns-policy", "C8.node-label"}
    # the edge and EdgeMesh are still to do, and Prometheus still has no target (the facts are a recording)
    assert {"C2.edge-stream", "C7.edgemesh-agent", "C8.daemonset", "C9.scrape"} <= left


def test_info_findings_are_never_applied(kit: Any, tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(dump_facts(kit.cluster_facts(kit.Setup().everything()), None))
    code, out = kit.run_doctor(["--facts", str(facts), "--fix", "--yes", "--color", "never"])
    assert code == 0
    assert "Nothing for --fix to change automatically" in out
    assert "patched" not in out
