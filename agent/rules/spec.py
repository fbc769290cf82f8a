"""The schema of a rule, as written in a rule pack."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.model import Severity
from agent.yamlsafe import TextFloat

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)+$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Rule(BaseModel):
    """One rule. `kind: jmespath` (default) judges one resource; `kind: python` sees the whole run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str = Field(min_length=3)
    kind: Literal["jmespath", "python"] = "jmespath"
    resource: str | None = None
    resources: tuple[str, ...] = ()
    severity: Severity
    controls: tuple[str, ...] = Field(min_length=1)
    where: str | None = None
    assert_: str | None = Field(default=None, alias="assert")
    unknown_if: str | None = None
    unknown_message: str | None = None
    message: str = Field(min_length=1)
    pass_message: str | None = None
    function: str | None = None
    guidance: str = Field(min_length=10)
    remediation: str = Field(min_length=5)
    references: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict)
    provider: str = ""
    file: str = Field(default="", exclude=True)
    line: int = Field(default=0, exclude=True)
    lines: dict[str, int] = Field(default_factory=dict, exclude=True)

    def line_of(self, key: str) -> int:
        """The line of one key of this rule in its file (the rule's own line if unknown)."""
        return self.lines.get(key, self.line)

    @field_validator("controls", mode="before")
    @classmethod
    def _controls_as_written(cls, value: object) -> object:
        """`controls: [5.10]` unquoted is read as a number: take the text as written (A.5.10, not 5.1)."""
        if isinstance(value, list | tuple):
            return tuple(v.source_text if isinstance(v, TextFloat) else v for v in value)
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not RULE_ID.fullmatch(value):
            raise ValueError("expected a dotted lower-case id such as aws.s3.bucket_versioning_enabled")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, default in value.items():
            if not isinstance(name, str) or not PARAM_NAME.match(name):
                raise ValueError(f"parameter name {name!r}: expected lower_case letters, digits and _")
            if not _plain(default):
                raise ValueError(f"parameter {name}: the default must be a number, string, boolean, "
                                 "or a list/map of those")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if self.kind == "jmespath":
            if not self.resource:
                raise ValueError("a jmespath rule needs `resource` (the resource type it judges)")
            if not self.assert_:
                raise ValueError("a jmespath rule needs `assert` (a JMESPath expression; truthy means pass)")
            if self.function or self.resources:
                raise ValueError("`function` and `resources` belong to `kind: python` rules")
            if self.unknown_message and not self.unknown_if:
                raise ValueError("`unknown_message` needs `unknown_if`")
        else:
            if not self.function or ":" not in self.function:
                raise ValueError("a python rule needs `function: package.module:callable`")
            if not self.resources:
                raise ValueError("a python rule needs `resources` (the resource types it reads)")
            if self.assert_ or self.where or self.unknown_if:
                raise ValueError("`assert`, `where` and `unknown_if` belong to jmespath rules")
        return self

    @property
    def input_types(self) -> tuple[str, ...]:
        return (self.resource,) if self.resource else self.resources


def _plain(value: Any, depth: int = 0) -> bool:
    """A parameter value: JSON scalars, or one level of list/map of scalars."""
    if isinstance(value, bool | int | float | str):
        return True
    if depth == 0 and isinstance(value, list):
        return all(_plain(v, 1) for v in value)
    if depth == 0 and isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, 1) for k, v in value.items())
    return False
