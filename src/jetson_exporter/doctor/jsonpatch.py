"""RFC 6902 JSON patch (add, remove, replace, test) applied to plain data.

The fixer uses it to show what a cluster patch will do before sending it (a diff of the object
before and after), and to apply fixes to recorded facts (`--facts FILE --fix --yes`).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, List, Mapping, Tuple


class PatchError(ValueError):
    """A patch does not apply: a test failed or a path is missing. One line."""


def parse_pointer(pointer: str) -> List[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _index(container: List[Any], token: str, pointer: str, allow_end: bool) -> int:
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"{pointer}: {token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"{pointer}: index {index} out of range")
    return index


def _parent(doc: Any, tokens: List[str], pointer: str) -> Tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"{pointer}: {token!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, pointer, allow_end=False)]
        else:
            raise PatchError(f"{pointer}: cannot descend into a {type(node).__name__}")
    return node, tokens[-1]


def _get(doc: Any, pointer: str) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, pointer)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"{pointer}: does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, pointer, allow_end=False)]
    raise PatchError(f"{pointer}: cannot descend into a {type(parent).__name__}")


def apply_patch(doc: Any, ops: Iterable[Mapping[str, Any]]) -> Any:
    """Apply the operations to a copy of doc; all or nothing."""
    result = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        pointer = str(op.get("path", ""))
        if kind == "test":
            if _get(result, pointer) != op.get("value"):
                raise PatchError(f"{pointer}: the object changed since it was read (test failed)")
            continue
        tokens = parse_pointer(pointer)
        if not tokens:
            if kind in ("add", "replace"):
                result = copy.deepcopy(op.get("value"))
                continue
            raise PatchError(f"cannot {kind} the whole document")
        parent, last = _parent(result, tokens, pointer)
        if kind == "add":
            value = copy.deepcopy(op.get("value"))
            if isinstance(parent, dict):
                parent[last] = value
            elif isinstance(parent, list):
                parent.insert(_index(parent, last, pointer, allow_end=True), value)
            else:
                raise PatchError(f"{pointer}: cannot add into a {type(parent).__name__}")
        elif kind in ("remove", "replace"):
            if isinstance(parent, dict):
                if last not in parent:
                    raise PatchError(f"{pointer}: does not exist")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = copy.deepcopy(op.get("value"))
            elif isinstance(parent, list):
                index = _index(parent, last, pointer, allow_end=False)
                if kind == "remove":
                    del parent[index]
                else:
                    parent[index] = copy.deepcopy(op.get("value"))
            else:
                raise PatchError(f"{pointer}: cannot {kind} inside a {type(parent).__name__}")
        else:
            raise PatchError(f"unsupported patch operation {kind!r}")
    return result
