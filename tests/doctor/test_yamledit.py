"""The YAML editor keeps every unrelated byte of a real-shaped edgecore.yaml and cloudcore.yaml."""

from __future__ import annotations

import difflib
from typing import Any, List, Tuple

import pytest
import yaml

from jetson_exporter.doctor.yamledit import EditError, render_scalar, set_values

DOCTOR_EDITS = [
    (("modules", "edgeStream", "enable"), True),
    (("modules", "metaManager", "metaServer", "enable"), True),
    (("modules", "edged", "tailoredKubeletConfig", "clusterDNS"), ["169.254.96.16"]),
    (("modules", "edged", "tailoredKubeletConfig", "clusterDomain"), "cluster.local"),
    (("featureGates", "requireAuthorization"), True),
]


def changes(before: str, after: str) -> List[Tuple[str, List[str], List[str]]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append((tag, a[i1:i2], b[j1:j2]))
    return out


def test_the_doctor_s_edits_change_only_their_own_lines(kit: Any) -> None:
    before = kit.edgecore_text("1.15")
    after = set_values(before, DOCTOR_EDITS)
    assert changes(before, after) == [
        ("insert", [], ["featureGates:\n", "  requireAuthorization: true\n"]),
        ("replace", ["    enable: false   # TODO: turn on for kubectl logs (ops ticket 1123)\n"],
         ["    enable: true    # TODO: turn on for kubectl logs (ops ticket 1123)\n"]),
        ("insert", [], ["      clusterDNS:\n", "      - 169.254.96.16\n", "      clusterDomain: cluster.local\n"]),
        ("replace", ["      enable: false\n"], ["      enable: true\n"]),
    ]
    # where the new keys went: keadm's alphabetical order
    lines = after.splitlines()
    assert lines[lines.index("featureGates:") - 1] == "  driverName: sqlite3"
    assert lines[lines.index("      clusterDNS:") - 1] == "      cgroupsPerQOS: true"
    assert after.endswith("# local changes end here\n")
    assert "    token: 4d1b9c6f0e2a" in after  # the real file keeps its token


def test_an_unchanged_document_stays_byte_identical_through_a_no_op_edit(kit: Any) -> None:
    before = kit.edgecore_text("1.17")
    assert set_values(before, [(("modules", "edgeStream", "server"), "192.168.10.20:30004")]) == before


def test_values_null_tilde_and_flow_maps_elsewhere_are_untouched(kit: Any) -> None:
    before = kit.edgecore_text("1.15")
    after = set_values(before, DOCTOR_EDITS)
    for line in ("      apiAudiences: null", "      serviceAccountKeyFiles: null", "      memorySwap: {}",
                 '            infoBufferSize: "0"', "      nodeLabels: {}"):
        assert line in after.splitlines()


def test_cloudcore_yaml_in_a_configmap_is_edited_the_same_way(kit: Any) -> None:
    text = kit.cloudcore_configmap()["data"]["cloudcore.yaml"]
    after = set_values(text, [(("modules", "dynamicController", "enable"), True)])
    assert changes(text, after) == [("replace", ["    enable: false\n"], ["    enable: true\n"])]
    assert yaml.safe_load(after)["modules"]["dynamicController"] == {"enable": True}


def test_a_key_is_appended_to_an_unsorted_mapping(kit: Any) -> None:
    text = kit.cloudcore_configmap()["data"]["cloudcore.yaml"]  # the chart's order is not alphabetical
    after = set_values(text, [(("modules", "edgeController", "enable"), True)])
    assert after.endswith("    mode: external\n  edgeController:\n    enable: true\n")


def test_null_and_empty_flow_values_become_blocks() -> None:
    before = "a:\n  b: ~\n  c: {}\n  d:\n  e: 1\n"
    after = set_values(before, [(("a", "b"), ["x", "y"]), (("a", "c", "k"), "v"), (("a", "d"), False)])
    assert after == "a:\n  b:\n  - x\n  - y\n  c:\n    k: v\n  d: false\n  e: 1\n"


def test_indentation_of_the_file_is_followed() -> None:
    before = "modules:\n    edged:\n        list:\n            - a\n    zeta: 1\n"
    after = set_values(before, [(("modules", "metaManager", "metaServer", "enable"), True),
                                (("modules", "edged", "more"), ["b"])])
    assert after == ("modules:\n    edged:\n        list:\n            - a\n        more:\n            - b\n"
                     "    metaManager:\n        metaServer:\n            enable: true\n    zeta: 1\n")


def test_crlf_files_keep_their_line_endings() -> None:
    before = "kind: EdgeCore\r\nmodules:\r\n  edgeStream:\r\n    enable: false\r\n"
    after = set_values(before, [(("modules", "edgeStream", "enable"), True), (("modules", "edged", "x"), 1)])
    assert after == "kind: EdgeCore\r\nmodules:\r\n  edgeStream:\r\n    enable: true\r\n  edged:\r\n    x: 1\r\n"


def test_an_empty_file_gets_the_key() -> None:
    assert set_values("# nothing yet\n", [(("featureGates", "requireAuthorization"), True)]) == \
        "# nothing yet\nfeatureGates:\n  requireAuthorization: true\n"


@pytest.mark.parametrize("text, path, message", [
    ("a: [1, 2\n", ("a",), "not valid YAML"),
    ("a: 1\n", ("a", "b"), "is not a mapping"),
    ("a: |\n  line one\n  line two\n", ("a",), "multi-line"),
    ("a: {b: 1}\n", ("a", "c"), "not a mapping that can be extended"),
])
def test_what_cannot_be_edited_safely_is_refused(text: str, path: Tuple[str, ...], message: str) -> None:
    with pytest.raises(EditError, match=message):
        set_values(text, [(path, "x")])


@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"), (10550, "10550"), ("169.254.96.16", "169.254.96.16"),
    ("cluster.local", "cluster.local"), ("", '""'), ("yes", '"yes"'), ("0644", '"0644"'), ("a: b", '"a: b"'),
    ("1.17", '"1.17"'),
])
def test_scalars_are_written_so_that_they_read_back_the_same(value: Any, text: str) -> None:
    assert render_scalar(value) == text
    assert yaml.safe_load(f"k: {text}")["k"] == value
