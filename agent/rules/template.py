"""Message templates: `{name}`-style placeholders over the resource envelope or JMESPath over its data."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

ENVELOPE_FIELDS = frozenset({"id", "name", "type", "account", "region", "source"})


class MessageTemplate:
    """`"Bucket {name} allows {PublicAccessBlock.BlockPublicAcls}"`. `{{`/`}}` are literal braces.

    A placeholder naming an envelope field (id, name, type, account, region, source) takes that
    field; anything else is a JMESPath expression over the resource's raw data. A null renders as
    `-`, lists and objects as compact JSON.
    """

    def __init__(self, text: str):
        self.text = text
        self.parts: list[tuple[str, Any]] = []
        i, literal = 0, []
        while i < len(text):
            ch = text[i]
            if text.startswith("{{", i) or text.startswith("}}", i):
                literal.append(ch)
                i += 2
                continue
            if ch == "}":
                raise ValueError(f"unmatched '}}' at position {i} in message template")
            if ch == "{":
                end = text.find("}", i)
                if end < 0:
                    raise ValueError(f"unclosed '{{' at position {i} in message template")
                expr = text[i + 1 : end].strip()
                if not expr:
                    raise ValueError(f"empty placeholder at position {i} in message template")
                if literal:
                    self.parts.append(("text", "".join(literal)))
                    literal = []
                if expr in ENVELOPE_FIELDS:
                    self.parts.append(("field", expr))
                else:
                    try:
                        self.parts.append(("expr", jmespath.compile(expr)))
                    except JMESPathError as exc:
                        raise ValueError(f"invalid JMESPath placeholder {{{expr}}}: "
                                         f"{str(exc).splitlines()[0]}") from None
                    except RecursionError:
                        raise ValueError(f"placeholder at position {i} is nested too deeply") from None
                i = end + 1
                continue
            literal.append(ch)
            i += 1
        if literal:
            self.parts.append(("text", "".join(literal)))
        self._searches: tuple[Any, list[Any]] | None = None  # (options, parts with compiled searches)

    def _parts(self, options: jmespath.Options | None) -> list[Any]:
        if self._searches is None or self._searches[0] is not options:
            from agent.rules.fastpath import compile_search

            self._searches = (options, [(kind, compile_search(value, options) if kind == "expr" else value)
                                        for kind, value in self.parts])
        return self._searches[1]

    def expressions(self) -> list[Any]:
        """The compiled JMESPath expressions of the placeholders."""
        return [value for kind, value in self.parts if kind == "expr"]

    def render(self, envelope: dict[str, Any], data: Any, options: jmespath.Options | None = None) -> str:
        out: list[str] = []
        for kind, value in self._parts(options):
            if kind == "text":
                out.append(value)
                continue
            if kind == "field":
                item = envelope.get(value)
            else:
                try:
                    item = value(data)
                except Exception:  # a message never fails a finding: the value shows as `-`
                    item = None
            out.append(_render_value(item))
        return "".join(out)


def _render_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    if isinstance(value, list | dict):
        import json

        return json.dumps(value, separators=(",", ":"), default=str)[:200]
    return str(value)
