"""Set keys in a YAML document and keep every other byte: comments, order, quoting, blank lines.

ruamel.yaml's round-trip composer gives each node's exact position in the text; the edit splices
only the span of the value it changes (or inserts one key after its alphabetical predecessor,
as keadm writes edgecore.yaml sorted). Re-dumping the whole document would normalise `null`,
`True` and spacing elsewhere, which is what this avoids. Every result is re-parsed and compared
with the intended data before it is returned.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Sequence, Tuple

Path = Tuple[str, ...]

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./@-][A-Za-z0-9_./:@+-]*$")
_NULLS = ("", "~", "null", "Null", "NULL")


class EditError(ValueError):
    """The document cannot be edited safely. One line."""


def _ruamel() -> Any:
    try:
        from ruamel.yaml import YAML
    except ImportError:
        raise EditError("editing YAML needs ruamel.yaml: pip install 'jetson-exporter[ops]'") from None
    return YAML


def _nodes() -> Tuple[Any, Any, Any]:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    return MappingNode, SequenceNode, ScalarNode


def render_scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_SAFE.match(text) and text not in ("true", "false", "yes", "no", "on", "off", "null", "~"):
        import yaml

        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text)


class _Style:
    def __init__(self, map_indent: int = 2, seq_offset: int = 0, newline: str = "\n") -> None:
        self.map_indent = map_indent
        self.seq_offset = seq_offset
        self.newline = newline


def _render(value: Any, key_col: int, style: _Style) -> str:
    """What follows `key:` for this value, in block style."""
    nl = style.newline
    if isinstance(value, dict):
        if not value:
            return " {}"
        col = key_col + style.map_indent
        return "".join(f"{nl}{' ' * col}{k}:{_render(v, col, style)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if not value:
            return " []"
        col = key_col + style.seq_offset
        items = []
        for item in value:
            if isinstance(item, (dict, list, tuple)):
                raise EditError("only lists of scalars can be written")
            items.append(f"{nl}{' ' * col}- {render_scalar(item)}")
        return "".join(items)
    return " " + render_scalar(value)


def _nested(path: Sequence[str], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


class _Doc:
    def __init__(self, text: str) -> None:
        self.text = text
        YAML = _ruamel()
        try:
            self.root = YAML().compose(text)
        except Exception as exc:  # ruamel raises many error types; all mean "cannot parse"
            raise EditError(f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
                from None
        self.Mapping, self.Sequence, self.Scalar = _nodes()
        self.style = self._detect_style()

    def _detect_style(self) -> _Style:
        newline = "\r\n" if "\r\n" in self.text else "\n"
        style = _Style(newline=newline)
        found_map = found_seq = False

        def walk(node: Any) -> None:
            nonlocal found_map, found_seq
            if isinstance(node, self.Mapping) and not node.flow_style:
                for key, value in node.value:
                    if isinstance(value, self.Mapping) and not value.flow_style and value.value and not found_map:
                        style.map_indent = value.value[0][0].start_mark.column - key.start_mark.column
                        found_map = True
                    if isinstance(value, self.Sequence) and not value.flow_style and value.value and not found_seq:
                        style.seq_offset = max(0, value.value[0].start_mark.column - 2 - key.start_mark.column)
                        found_seq = True
                    walk(value)
            elif isinstance(node, self.Sequence):
                for item in node.value:
                    walk(item)

        walk(self.root)
        if style.map_indent <= 0:
            style.map_indent = 2
        return style

    def is_null(self, node: Any) -> bool:
        return isinstance(node, self.Scalar) and node.style is None and node.value in _NULLS

    def colon_after(self, key: Any) -> int:
        index = self.text.find(":", key.end_mark.index)
        if index < 0:
            raise EditError(f"cannot find the ':' after key {key.value!r}")
        return index

    def end_of(self, node: Any) -> int:
        """Index just after the last character that belongs to the node's content."""
        if isinstance(node, self.Scalar):
            end = int(node.end_mark.index)
            while end > node.start_mark.index and self.text[end - 1] in "\r\n":
                end -= 1
            return end
        if node.flow_style:
            return int(node.end_mark.index)
        if isinstance(node, self.Mapping):
            if not node.value:
                return int(node.start_mark.index)
            key, value = node.value[-1]
            if self.is_null(value) and value.start_mark.index >= value.end_mark.index:
                return self.colon_after(key) + 1
            return self.end_of(value)
        if not node.value:
            return int(node.start_mark.index)
        return self.end_of(node.value[-1])

    def end_of_line(self, index: int) -> int:
        eol = self.text.find(self.style.newline, index)
        return len(self.text) if eol < 0 else eol

    def replace_value(self, key: Any, value_node: Any, value: Any) -> str:
        colon = self.colon_after(key)
        start = colon + 1
        if self.is_null(value_node) and value_node.start_mark.index >= value_node.end_mark.index:
            end = start
        else:
            if isinstance(value_node, self.Scalar) and (
                    value_node.style in ("|", ">") or value_node.start_mark.line != value_node.end_mark.line):
                raise EditError(f"{key.value}: multi-line values are not edited automatically")
            end = self.end_of(value_node)
        new = _render(value, key.start_mark.column, self.style)
        old = self.text[start:end]
        rest = self.text[end:self.end_of_line(end)]
        if "\n" not in new and "\n" not in old and rest.lstrip().startswith("#"):
            # keep the trailing comment in its column where the spaces allow it
            spaces = len(rest) - len(rest.lstrip())
            shift = len(old) - len(new)
            if shift > 0:
                new += " " * shift
            elif shift < 0:
                eat = min(-shift, spaces - 1)
                end += eat
        return self.text[:start] + new + self.text[end:]

    def insert_key(self, mapping: Any, key: str, value: Any) -> str:
        pairs = mapping.value
        first_key = pairs[0][0]
        col = first_key.start_mark.column
        keys = [str(k.value) for k, _ in pairs]
        pos = len(keys)
        if keys == sorted(keys):
            pos = next((i for i, k in enumerate(keys) if key < k), len(keys))
        rendered = f"{' ' * col}{key}:{_render(value, col, self.style)}"
        if pos == 0:
            line_start = first_key.start_mark.index - first_key.start_mark.column
            return self.text[:line_start] + rendered + self.style.newline + self.text[line_start:]
        prev_key, prev_value = pairs[pos - 1]
        if self.is_null(prev_value) and prev_value.start_mark.index >= prev_value.end_mark.index:
            end = self.colon_after(prev_key) + 1
        else:
            end = self.end_of(prev_value)
        eol = self.end_of_line(end)
        return self.text[:eol] + self.style.newline + rendered + self.text[eol:]

    def set(self, path: Path, value: Any) -> str:
        if self.root is None:  # an empty document (or only comments)
            sep = self.style.newline if self.text and not self.text.endswith("\n") else ""
            return f"{self.text}{sep}{path[0]}:{_render(_nested(path[1:], value), 0, self.style)}{self.style.newline}"
        node = self.root
        for i, part in enumerate(path):
            if not isinstance(node, self.Mapping) or node.flow_style:
                raise EditError(f"{'.'.join(path[:i]) or 'the document'} is not a block mapping")
            pair = next(((k, v) for k, v in node.value if isinstance(k, self.Scalar) and k.value == part), None)
            if pair is None:
                if not node.value:
                    raise EditError(f"{'.'.join(path[:i]) or 'the document'} is empty")
                return self.insert_key(node, part, _nested(path[i + 1:], value))
            key, child = pair
            if i == len(path) - 1:
                return self.replace_value(key, child, value)
            if isinstance(child, self.Mapping) and not child.flow_style and child.value:
                node = child
                continue
            empty = self.is_null(child) or (isinstance(child, self.Mapping) and not child.value)
            if not empty:
                raise EditError(f"{'.'.join(path[:i + 1])} is not a mapping that can be extended")
            return self.replace_value(key, child, _nested(path[i + 1:], value))
        raise EditError("empty path")


def _set_data(data: Any, path: Path, value: Any) -> Any:
    data = copy.deepcopy(data) if data is not None else {}
    node = data
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)
    return data


def _load_plain(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def set_values(text: str, edits: Sequence[Tuple[Path, Any]]) -> str:
    """Apply `path = value` edits to YAML text; raises EditError (one line) when it cannot do so safely."""
    result = text
    for path, value in edits:
        if not path:
            raise EditError("empty path")
        result = _Doc(result).set(tuple(path), value)
    expected: Any = _load_plain(text)
    for path, value in edits:
        expected = _set_data(expected, tuple(path), value)
    if _load_plain(result) != expected:
        raise EditError("the edit would change more than asked; edit the file by hand")
    return result
