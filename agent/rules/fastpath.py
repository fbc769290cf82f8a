"""JMESPath expressions compiled into Python closures: the same results, without walking the tree.

jmespath's interpreter visits every node of the parsed tree for every resource, dispatching by
node type each time. Rules use a small part of the language (field paths, comparisons, `&&`, `||`,
`!`, literals, projections, filters and function calls), so each of those nodes is turned once into
a closure that does exactly what the interpreter's `visit_<node>` method does, in the same order
(so even the errors raised are the same). Function calls still go through the options' function
table (`call_function`), with its argument checks. An expression using anything else (e.g. `&expr`
references for sort_by) is evaluated by the interpreter, as before.

Results are checked against the interpreter for every shipped rule (tests/agent/rules/test_fastpath.py).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath import functions as jp_functions
from jmespath.visitor import _equals, _is_actual_number, _is_comparable

Search = Callable[[Any], Any]

_ORDERING = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


class Unsupported(Exception):
    """A node the fast path does not compile: the whole expression uses the interpreter."""


def _is_false(value: Any) -> bool:
    # exactly the interpreter's test (equality, not truthiness: 0 and 0.0 are true in JMESPath)
    return value == "" or value == [] or value == {} or value is None or value is False


def compile_search(parsed: Any, options: jmespath.Options | None) -> Search:
    """A function of the data giving `parsed.search(data, options=options)`."""
    try:
        return _Compiler(options).compile(parsed.parsed)
    except (Unsupported, RecursionError):
        return lambda value: parsed.search(value, options=options)


def is_fast(search: Search) -> bool:
    """True when `search` came from the closures here rather than the interpreter fallback."""
    return getattr(search, "__qualname__", "").startswith("_Compiler.")


class _Compiler:
    def __init__(self, options: jmespath.Options | None):
        self.dict_cls: type = dict
        self.functions: Any = jp_functions.Functions()
        if options is not None:
            if options.dict_cls is not None:
                self.dict_cls = options.dict_cls
            if options.custom_functions is not None:
                self.functions = options.custom_functions

    def compile(self, node: dict[str, Any]) -> Search:
        method = getattr(self, "_" + node["type"], None)
        if method is None:
            raise Unsupported(node["type"])
        return method(node)  # type: ignore[no-any-return]

    def _field(self, node: dict[str, Any]) -> Search:
        key = node["value"]

        def field(value: Any) -> Any:
            if type(value) is dict:
                return value.get(key)
            try:
                return value.get(key)
            except AttributeError:
                return None
        return field

    def _chain(self, node: dict[str, Any]) -> Search:
        steps = [self.compile(child) for child in node["children"]]
        if len(steps) == 2:
            first, second = steps

            def chain2(value: Any) -> Any:
                return second(first(value))
            return chain2

        def chain(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value
        return chain

    _subexpression = _chain
    _index_expression = _chain
    _pipe = _chain

    def _comparator(self, node: dict[str, Any]) -> Search:
        left, right = (self.compile(child) for child in node["children"])
        op = node["value"]
        if op == "eq":
            def eq(value: Any) -> Any:
                return _equals(left(value), right(value))
            return eq
        if op == "ne":
            def ne(value: Any) -> Any:
                return not _equals(left(value), right(value))
            return ne
        compare = _ORDERING.get(op)
        if compare is None:
            raise Unsupported(op)

        def ordering(value: Any) -> Any:
            a, b = left(value), right(value)
            if not (_is_comparable(a) and _is_comparable(b)):
                return None
            return compare(a, b)
        return ordering

    def _current(self, node: dict[str, Any]) -> Search:
        def current(value: Any) -> Any:
            return value
        return current

    _identity = _current

    def _literal(self, node: dict[str, Any]) -> Search:
        constant = node["value"]

        def literal(value: Any) -> Any:
            return constant
        return literal

    def _function_expression(self, node: dict[str, Any]) -> Search:
        name = node["value"]
        args = [self.compile(child) for child in node["children"]]
        call = self.functions.call_function

        def function(value: Any) -> Any:
            return call(name, [arg(value) for arg in args])
        return function

    def _filter_projection(self, node: dict[str, Any]) -> Search:
        base, project, condition = (self.compile(child) for child in node["children"])

        def filter_projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            collected = []
            for element in items:
                if not _is_false(condition(element)):
                    current = project(element)
                    if current is not None:
                        collected.append(current)
            return collected
        return filter_projection

    def _flatten(self, node: dict[str, Any]) -> Search:
        base = self.compile(node["children"][0])

        def flatten(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            merged: list[Any] = []
            for element in items:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged
        return flatten

    def _index(self, node: dict[str, Any]) -> Search:
        position = node["value"]

        def index(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[position]
            except IndexError:
                return None
        return index

    def _slice(self, node: dict[str, Any]) -> Search:
        bounds = slice(*node["children"])

        def slice_(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            return value[bounds]
        return slice_

    def _key_val_pair(self, node: dict[str, Any]) -> Search:
        return self.compile(node["children"][0])

    def _multi_select_dict(self, node: dict[str, Any]) -> Search:
        pairs = [(child["value"], self.compile(child)) for child in node["children"]]
        dict_cls = self.dict_cls

        def multi_select_dict(value: Any) -> Any:
            if value is None:
                return None
            collected = dict_cls()
            for key, item in pairs:
                collected[key] = item(value)
            return collected
        return multi_select_dict

    def _multi_select_list(self, node: dict[str, Any]) -> Search:
        items = [self.compile(child) for child in node["children"]]

        def multi_select_list(value: Any) -> Any:
            if value is None:
                return None
            return [item(value) for item in items]
        return multi_select_list

    def _or_expression(self, node: dict[str, Any]) -> Search:
        left, right = (self.compile(child) for child in node["children"])

        def or_(value: Any) -> Any:
            matched = left(value)
            if _is_false(matched):
                matched = right(value)
            return matched
        return or_

    def _and_expression(self, node: dict[str, Any]) -> Search:
        left, right = (self.compile(child) for child in node["children"])

        def and_(value: Any) -> Any:
            matched = left(value)
            if _is_false(matched):
                return matched
            return right(value)
        return and_

    def _not_expression(self, node: dict[str, Any]) -> Search:
        inner = self.compile(node["children"][0])

        def not_(value: Any) -> Any:
            result = inner(value)
            if _is_actual_number(result) and result == 0:
                return False
            return not result
        return not_

    def _projection(self, node: dict[str, Any]) -> Search:
        base, project = (self.compile(child) for child in node["children"])

        def projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            collected = []
            for element in items:
                current = project(element)
                if current is not None:
                    collected.append(current)
            return collected
        return projection

    def _value_projection(self, node: dict[str, Any]) -> Search:
        base, project = (self.compile(child) for child in node["children"])

        def value_projection(value: Any) -> Any:
            items = base(value)
            try:
                items = items.values()
            except AttributeError:
                return None
            collected = []
            for element in items:
                current = project(element)
                if current is not None:
                    collected.append(current)
            return collected
        return value_projection
