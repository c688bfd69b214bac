"""JSON patch as RFC 6902 specifies it (its Appendix A examples), used to preview and replay cluster fixes."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from jetson_exporter.doctor.jsonpatch import PatchError, apply_patch


@pytest.mark.parametrize("doc, ops, result", [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"baz": "qux", "foo": ["a", 2, "c"]}, [{"op": "test", "path": "/baz", "value": "qux"},
                                          {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}, {"op": "remove", "path": "/~1"}], {"~1": 10}),
])
def test_rfc_6902_examples(doc: Dict[str, Any], ops: List[Dict[str, Any]], result: Dict[str, Any]) -> None:
    assert apply_patch(doc, ops) == result


@pytest.mark.parametrize("doc, ops, message", [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test failed"),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "does not exist"),
    ({"foo": ["bar"]}, [{"op": "remove", "path": "/foo/1"}], "out of range"),
    ({"foo": "bar"}, [{"op": "move", "from": "/foo", "path": "/x"}], "unsupported"),
])
def test_patches_that_do_not_apply_say_why(doc: Dict[str, Any], ops: List[Dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_patch(doc, ops)


def test_a_failed_patch_leaves_the_document_alone() -> None:
    doc = {"a": 1}
    with pytest.raises(PatchError):
        apply_patch(doc, [{"op": "remove", "path": "/a"}, {"op": "remove", "path": "/b"}])
    assert doc == {"a": 1}


def test_labels_with_slashes_are_addressed_by_escaped_pointers(kit: Any) -> None:
    from jetson_exporter.doctor.kube import json_pointer

    svc = kit.kubernetes_service(edgemesh_label=True)
    pointer = json_pointer("metadata", "labels", "service.edgemesh.kubeedge.io/service-proxy-name")
    assert pointer == "/metadata/labels/service.edgemesh.kubeedge.io~1service-proxy-name"
    assert "service.edgemesh.kubeedge.io/service-proxy-name" not in apply_patch(
        svc, [{"op": "remove", "path": pointer}])["metadata"]["labels"]
