"""PromQL syntax trees for tests (PyPI promql-parser): walking with parents, selectors, metric names."""

from __future__ import annotations

from typing import Any, Iterator, List, Set, Tuple

import promql_parser

# Prometheus's own series, not the exporter's.
BUILTIN_METRICS = frozenset({"up"})


def parse(expr: str) -> Any:
    """The syntax tree; ValueError (from the parser) if the expression is not valid PromQL."""
    return promql_parser.parse(expr)


def children(node: Any) -> List[Any]:
    name = type(node).__name__
    if name == "BinaryExpr":
        return [node.lhs, node.rhs]
    if name in ("AggregateExpr",):
        return [c for c in (node.param, node.expr) if c is not None]
    if name in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        return [node.expr]
    if name == "Call":
        return list(node.args)
    if name == "MatrixSelector":
        return [node.vector_selector]
    return []


def walk(node: Any, parents: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, Tuple[Any, ...]]]:
    """Every node with the chain of its ancestors (outermost first)."""
    yield node, parents
    for child in children(node):
        yield from walk(child, (*parents, node))


def selectors(expr: str) -> List[Any]:
    return [node for node, _ in walk(parse(expr)) if type(node).__name__ == "VectorSelector"]


def metric_names(expr: str) -> Set[str]:
    names = set()
    for selector in selectors(expr):
        name = selector.name or next((m.value for m in selector.matchers.matchers if m.name == "__name__"), None)
        if name:
            names.add(name)
    return names


def matchers(selector: Any) -> List[Tuple[str, str, str]]:
    """(label, operator, value) of a selector; operators as in PromQL (=, !=, =~, !~)."""
    ops = ((promql_parser.MatchOp.Equal, "="), (promql_parser.MatchOp.NotEqual, "!="),
           (promql_parser.MatchOp.Re, "=~"), (promql_parser.MatchOp.NotRe, "!~"))  # MatchOp is not hashable
    return [(m.name, next(text for op, text in ops if m.op == op), m.value) for m in selector.matchers.matchers]


def ranges_seconds(expr: str) -> List[Tuple[str, float]]:
    """(enclosing function, range in seconds) of every range selector."""
    found = []
    for node, parents in walk(parse(expr)):
        if type(node).__name__ == "MatrixSelector":
            parent = parents[-1] if parents else None
            function = parent.func.name if parent is not None and type(parent).__name__ == "Call" else ""
            found.append((function, node.range.total_seconds()))
    return found


def is_single_series(node: Any) -> bool:
    """True when the expression can only yield one series: aggregated without grouping labels,
    numbers, vector()/scalar()/time(), and operations between those."""
    name = type(node).__name__
    if name == "AggregateExpr":
        modifier = node.modifier
        return modifier is None or (str(modifier.type).endswith("By") and not modifier.labels)
    if name == "BinaryExpr":
        return is_single_series(node.lhs) and is_single_series(node.rhs)
    if name in ("ParenExpr", "UnaryExpr"):
        return is_single_series(node.expr)
    if name == "Call":
        return node.func.name in ("vector", "scalar", "time")
    return name in ("NumberLiteral",)
