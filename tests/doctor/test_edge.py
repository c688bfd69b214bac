"""Edge mode: facts gathered from an edge node's files on disk (--root) and its local endpoints."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest

from jetson_exporter.doctor.checks_edge import parse_unit_environment, run_edge_checks
from jetson_exporter.doctor.facts import dump_facts
from jetson_exporter.doctor.gather_edge import EdgeGatherer
from jetson_exporter.doctor.model import ERROR, INFO, OK, SKIP, WARN, Finding

TOKEN_PART = "bm90LWEtcmVhbC1zaWduYXR1cmU"


def edge_findings(root: Path, **kwargs: Any) -> List[Finding]:
    return run_edge_checks(EdgeGatherer(root=str(root), **kwargs).gather())


def by_id(findings: List[Finding]) -> Dict[str, Finding]:
    return {f.id: f for f in findings}


def test_a_freshly_joined_1_15_node_lacks_stream_meta_server_dns_and_the_variables(kit: Any, tmp_path: Path) -> None:
    found = by_id(edge_findings(kit.write_edge_root(kit.Setup(), tmp_path), kubeedge_version="v1.15.1"))
    assert found["E0.edgecore-config"].severity == OK
    assert found["E7.kubeedge-version"].evidence == "--kubeedge-version"
    assert found["E2.edge-stream"].severity == WARN
    assert found["E2.edge-stream"].evidence == "modules.edgeStream.enable: false, server: 192.168.10.20:30004"
    assert found["E3.meta-server"].severity == ERROR
    assert found["E3.cluster-dns"].evidence == "modules.edged.tailoredKubeletConfig.clusterDNS: null"
    assert found["E3.cluster-domain"].severity == WARN
    assert found["E3.edgemesh-interface"].severity == WARN
    e4 = found["E4.dummy-env"]
    assert e4.severity == ERROR
    assert e4.evidence == ("edgecore.service and its drop-ins: METASERVER_DUMMY_IP=<unset>, "
                           "METASERVER_DUMMY_PORT=<unset>")
    assert found["E5.require-authorization"].severity == OK
    assert found["E6.l4t"].diagnosis == "L4T 35.5.0 (JetPack 5.1.3)"
    assert found["E1.edgecore-service"].severity == INFO  # a copy: systemctl is not asked


def test_a_fully_set_up_node_is_green(kit: Any, tmp_path: Path) -> None:
    findings = edge_findings(kit.write_edge_root(kit.Setup().everything(), tmp_path), kubeedge_version="1.15.1")
    assert [f for f in findings if f.problem] == []


def test_the_version_is_inferred_from_the_1_17_dummy_server_field(kit: Any, tmp_path: Path) -> None:
    found = by_id(edge_findings(kit.write_edge_root(kit.Setup(kubeedge="1.17.0"), tmp_path)))
    assert found["E7.kubeedge-version"].evidence == "inferred: metaServer.dummyServer exists from 1.17"
    assert "1.17" in found["E4.dummy-env"].fix.note  # type: ignore[union-attr]


def test_without_a_version_the_1_15_advice_is_given_and_said(kit: Any, tmp_path: Path) -> None:
    found = by_id(edge_findings(kit.write_edge_root(kit.Setup(), tmp_path)))
    assert found["E7.kubeedge-version"].severity == INFO
    assert found["E4.dummy-env"].diagnosis.startswith("KubeEdge version unknown; assuming 1.15/1.16")


def test_the_gate_on_a_1_15_node_has_no_effect(kit: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(), gate=True)
    found = by_id(edge_findings(kit.write_edge_root(setup, tmp_path), kubeedge_version="1.15.1"))
    assert found["E5.require-authorization"].severity == WARN


def test_the_1_17_gate_without_its_dummy_interface_is_an_error(kit: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(kubeedge="1.17.0", gate=True), meta_server=True)  # no dynamicController: no dummy0
    found = by_id(edge_findings(kit.write_edge_root(setup, tmp_path)))
    assert found["E5.require-authorization"].severity == ERROR
    assert "no edge-dummy0 interface" in found["E5.require-authorization"].evidence


def test_systemd_variables_with_the_gate_on_compete(kit: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(kubeedge="1.17.0", gate=True), meta_server=True, dynamic_controller=True,
                    dummy_env=True)
    found = by_id(edge_findings(kit.write_edge_root(setup, tmp_path)))
    assert found["E4.dummy-env"].severity == WARN and "one mechanism" in found["E4.dummy-env"].diagnosis


def test_the_running_edgecore_s_environment_wins_over_the_unit_files(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(replace(kit.Setup(), dummy_env=True, edgemesh=True), tmp_path)
    proc = root / "proc" / "2817"
    proc.mkdir(parents=True)
    (proc / "comm").write_text("edgecore\n")
    (proc / "environ").write_bytes(b"LANG=C.UTF-8\0PATH=/usr/bin\0INVOCATION_ID=abc\0")
    (root / "proc" / "1").mkdir()
    (root / "proc" / "1" / "comm").write_text("systemd\n")
    facts = EdgeGatherer(root=str(root), kubeedge_version="1.15.1").gather()
    assert facts.process_environment == {}  # only METASERVER_* are ever kept
    e4 = by_id(run_edge_checks(facts))["E4.dummy-env"]
    assert e4.severity == ERROR and "not restarted" in e4.diagnosis
    (proc / "environ").write_bytes(b"LANG=C.UTF-8\0METASERVER_DUMMY_IP=kubernetes.default.svc.cluster.local\0"
                                   b"METASERVER_DUMMY_PORT=443\0")
    e4 = by_id(edge_findings(root, kubeedge_version="1.15.1"))["E4.dummy-env"]
    assert e4.severity == OK and e4.evidence.startswith("the running edgecore's environment")
    (root / "sys/class/net/edgemesh0").rmdir()
    e4 = by_id(edge_findings(root, kubeedge_version="1.15.1"))["E4.dummy-env"]
    assert e4.severity == WARN and "resolves only through EdgeMesh" in e4.diagnosis


def test_pre_1_12_configs_keep_cluster_dns_as_a_string_under_edged(tmp_path: Path) -> None:
    config = tmp_path / "etc/kubeedge/config/edgecore.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nkind: EdgeCore\nmodules:\n  edged:\n"
                      "    clusterDNS: \"\"\n    clusterDomain: \"\"\n    hostnameOverride: old-edge\n")
    found = by_id(edge_findings(tmp_path, kubeedge_version="1.11.1"))
    dns = found["E3.cluster-dns"]
    assert dns.evidence == 'modules.edged.clusterDNS: ""'
    assert dns.fix is not None and dns.fix.edits[0].path == ("modules", "edged", "clusterDNS")
    assert dns.fix.edits[0].value == "169.254.96.16"


def test_a_malformed_edgecore_yaml_is_reported_and_the_other_checks_go_on(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(kit.Setup(), tmp_path)
    config = root / "etc/kubeedge/config/edgecore.yaml"
    config.write_text(config.read_text().replace("  edgeStream:\n", "  edgeStream:\n\tenable: true\n", 1))
    found = by_id(edge_findings(root))
    assert found["E0.edgecore-config"].severity == ERROR
    assert "not valid YAML at line" in found["E0.edgecore-config"].diagnosis
    assert found["E2.edge-stream"].severity == SKIP
    assert found["E6.l4t"].severity == OK


def test_a_missing_edgecore_yaml_says_what_to_pass(tmp_path: Path) -> None:
    found = by_id(edge_findings(tmp_path))
    assert "--edgecore-config" in found["E0.edgecore-config"].diagnosis
    assert found["E6.l4t"].severity == WARN


def test_a_non_default_config_location(kit: Any, tmp_path: Path) -> None:
    elsewhere = tmp_path / "opt" / "edgecore.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(kit.edge_config_text(kit.Setup().everything()))
    facts = EdgeGatherer(root=str(tmp_path), edgecore_config=str(elsewhere)).gather()
    assert facts.edgecore_path == str(elsewhere)
    assert by_id(run_edge_checks(facts))["E3.meta-server"].severity == OK


def test_the_edgehub_token_never_leaves_the_node(kit: Any, tmp_path: Path) -> None:
    facts = EdgeGatherer(root=str(kit.write_edge_root(kit.Setup(), tmp_path))).gather()
    assert TOKEN_PART not in dump_facts(None, facts)
    assert facts.edgecore_config["modules"]["edgeHub"]["token"] == "<redacted>"  # type: ignore[index]


def test_unit_environment_follows_systemd_rules() -> None:
    env = parse_unit_environment({
        "/etc/systemd/system/edgecore.service": "[Service]\nEnvironment=\"A=1\" B=2\n# Environment=C=3\n",
        "/etc/systemd/system/edgecore.service.d/20-late.conf": "[Service]\nEnvironment=METASERVER_DUMMY_PORT=443\n",
        "/etc/systemd/system/edgecore.service.d/10-early.conf": "[Unit]\nEnvironment=X=1\n[Service]\n"
                                                              "Environment=\nEnvironment='D=a b'\n"})
    assert env == {"D": "a b", "METASERVER_DUMMY_PORT": "443"}


# -- live probes (the node's own endpoints, here served locally) ------------------------------------------------


def _server(kit: Any, answers: Dict[str, Tuple[int, str, bytes]]) -> Any:
    return kit.LocalServer(lambda method, path, query, body, headers: answers.get(path, (404, "text/plain", b"")))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probes_of_the_meta_server_and_both_exporters(kit: Any, tmp_path: Path) -> None:
    services = {"kind": "ServiceList", "apiVersion": "v1", "metadata": {}, "items": [
        kit.kubernetes_service(), kit.jetson_service()]}
    metrics = (b'# HELP node_uname_info Labeled system information.\n# TYPE node_uname_info gauge\n'
               b'node_uname_info{machine="aarch64",nodename="jetson-nx-01",release="5.10.120-tegra"} 1\n')
    jetson = (b'# HELP jetson_info Board identity; always 1.\n# TYPE jetson_info gauge\n'
              b'jetson_info{cuda_arch="7.2",jetpack="5.1.3",l4t="35.5.0",model="NVIDIA Jetson Xavier NX",'
              b'module="p3668-0001",soc="tegra194"} 1.0\n')
    server = _server(kit, {"/api/v1/services": (200, "application/json", json.dumps(services).encode()),
                           "/metrics": (200, "text/plain; version=0.0.4", metrics + jetson)})
    try:
        root = kit.write_edge_root(kit.Setup().everything(), tmp_path)
        found = by_id(edge_findings(root, metaserver_url=server.url + "/api/v1/services",
                                    node_exporter_url=server.url + "/metrics", exporter_url=server.url + "/metrics"))
    finally:
        server.close()
    assert found["E3.meta-server-endpoint"].severity == OK
    assert found["E3.meta-server-endpoint"].evidence == "ServiceList with 2 items"
    assert found["E6.node-exporter"].severity == OK
    assert found["E6.jetson-exporter"].evidence.startswith('jetson_info{cuda_arch="7.2"')


def test_endpoints_that_do_not_answer_are_errors(kit: Any, tmp_path: Path) -> None:
    port = _closed_port()
    root = kit.write_edge_root(kit.Setup().everything(), tmp_path)
    found = by_id(edge_findings(root, metaserver_url=f"http://127.0.0.1:{port}/api/v1/services",
                                exporter_url=f"http://127.0.0.1:{port}/metrics"))
    assert found["E3.meta-server-endpoint"].severity == ERROR
    assert found["E3.meta-server-endpoint"].evidence.startswith("cannot connect")
    assert found["E6.jetson-exporter"].severity == ERROR
    assert found["E6.node-exporter"].severity == INFO  # not asked to probe it under --root


def test_a_live_node_asks_systemd_and_edgecore(kit: Any, tmp_path: Path) -> None:
    calls: List[Sequence[str]] = []
    answers = {
        ("systemctl", "is-active"): (3, "failed\n"),
        ("systemctl", "show"): (0, "Environment=CHECK_EDGECORE_ENVIRONMENT=false METASERVER_DUMMY_IP=10.0.0.1 "
                                   "METASERVER_DUMMY_PORT=6443 HTTPS_PROXY=http://user:secret@proxy:3128\n"),
        ("journalctl", "-u"): (0, "I0425 edged.go:210] starting\nW0425 kubelet_pods.go:513] \"Cluster DNS is "
                                  "missing\" MissingClusterDNS\n"),
        ("edgecore", "--version"): (0, "KubeEdge v1.16.2\n"),
    }

    def run(argv: Sequence[str]) -> Tuple[int, str]:
        calls.append(argv)
        return answers.get((argv[0], argv[1]), (127, ""))

    root = kit.write_edge_root(kit.Setup(), tmp_path)
    port = _closed_port()
    facts = EdgeGatherer(root=str(root), live=True, run=run, metaserver_url=f"http://127.0.0.1:{port}/",
                         node_exporter_url=f"http://127.0.0.1:{port}/", exporter_url=f"http://127.0.0.1:{port}/"
                         ).gather()
    assert facts.kubeedge_version == "KubeEdge v1.16.2"
    assert facts.unit_environment == {"METASERVER_DUMMY_IP": "10.0.0.1", "METASERVER_DUMMY_PORT": "6443"}
    found = by_id(run_edge_checks(facts))
    assert found["E1.edgecore-service"].severity == ERROR
    assert "MissingClusterDNS" in found["E3.cluster-dns"].evidence
    assert found["E4.dummy-env"].severity == OK and "systemctl show edgecore" in found["E4.dummy-env"].evidence
    assert found["E7.kubeedge-version"].diagnosis.startswith("KubeEdge 1.16.2")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs unix sockets")
def test_the_jtop_socket_is_seen(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(kit.Setup(), tmp_path)
    (root / "run").mkdir()
    path = str(root / "run" / "jtop.sock")
    if len(path) > 100:
        pytest.skip("temporary path too long for a unix socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        assert by_id(edge_findings(root))["E6.jtop"].severity == OK
    os.unlink(path)
    assert by_id(edge_findings(root))["E6.jtop"].severity == INFO


def test_unit_files_keep_only_metaserver_values(kit: Any, tmp_path: Path) -> None:
    root = kit.write_edge_root(replace(kit.Setup(), dummy_env=True), tmp_path)
    proxy = root / "etc/systemd/system/edgecore.service.d/05-proxy.conf"
    proxy.write_text('[Service]\nEnvironment="HTTPS_PROXY=http://ops:hunter2@proxy.lan:3128"\n')
    facts = EdgeGatherer(root=str(root), kubeedge_version="1.15.1").gather()
    assert "hunter2" not in dump_facts(None, facts)
    assert facts.unit_files[str(proxy)] == '[Service]\nEnvironment="HTTPS_PROXY=<redacted>"\n'
    assert parse_unit_environment(facts.unit_files)["METASERVER_DUMMY_PORT"] == "443"
