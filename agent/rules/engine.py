"""Evaluate compiled rules. Expressions are compiled once per run; evaluation never raises."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from agent.model import Resource, Status, canonical_json
from agent.rules.fastpath import compile_search
from agent.rules.functions import options as jmespath_options
from agent.rules.functions import rule_params, truthy
from agent.rules.loader import resolve_function
from agent.rules.params import ParamResolver
from agent.rules.spec import Rule
from agent.rules.template import MessageTemplate

log = logging.getLogger("annexa.rules")


@dataclass(slots=True)
class Evaluation:
    """One rule's verdict on one resource."""

    resource: Resource
    status: Status
    message: str


@dataclass
class PythonRuleContext:
    """What a Python rule receives besides the resources: the rule, the clock and identity settings."""

    rule: Rule
    now: datetime
    identity: Any = None
    errors: list[str] = field(default_factory=list)
    params: Mapping[str, Any] = field(default_factory=dict)
    source_params: Callable[[str], Mapping[str, Any]] | None = None

    def params_for(self, source: str) -> Mapping[str, Any]:
        """The rule's parameters as one source sees them (its own `params` applied last)."""
        return self.source_params(source) if self.source_params is not None else self.params


PythonRule = Callable[[Mapping[str, Sequence[Resource]], PythonRuleContext], Iterable[Evaluation]]


class CompiledRule:
    """A rule with its JMESPath expressions and message templates compiled (on first use).

    Expressions run as Python closures where agent.rules.fastpath can build them, through the
    jmespath interpreter otherwise: the verdicts are the same either way.
    """

    def __init__(self, rule: Rule, options: jmespath.Options):
        self.rule = rule
        self.options = options
        self._ready = False
        self.function: PythonRule | None = None
        self.load_error: str | None = None  # why a Python rule's function could not be loaded
        if rule.function:
            try:
                self.function = resolve_function(rule.function)
            except ValueError as exc:  # its module fails to import: `error` findings for this rule only
                log.warning("rule %s: cannot load function %s: %s", rule.id, rule.function, exc)
                self.load_error = f"{rule.id}: cannot load function {rule.function!r}: {exc}"

    def _compile(self) -> None:
        rule, opts = self.rule, self.options
        self.where = compile_search(jmespath.compile(rule.where), opts) if rule.where else None
        self.assertion = compile_search(jmespath.compile(rule.assert_), opts) if rule.assert_ else None
        self.message = MessageTemplate(rule.message)
        self.pass_message = MessageTemplate(rule.pass_message) if rule.pass_message else None
        self.unknown_if = compile_search(jmespath.compile(rule.unknown_if), opts) if rule.unknown_if else None
        self.unknown_message = MessageTemplate(rule.unknown_message) if rule.unknown_message else None
        self._ready = True

    @property
    def id(self) -> str:
        return self.rule.id

    def applies(self, resource: Resource) -> bool | Evaluation:
        """True/False, or an `error` evaluation if `where` itself could not be evaluated."""
        if not self._ready:
            self._compile()
        if self.where is None:
            return True
        try:
            return truthy(self.where(resource.data))
        except Exception as exc:  # JMESPathError, or a custom function's error (re.error...)
            return self._error(resource, f"`where` could not be evaluated: {_explain(exc)}")

    def evaluate(self, resource: Resource, params: Mapping[str, Any] | None = None) -> Evaluation | None:
        """None when the rule does not apply; otherwise pass, fail or error. Never raises.

        `params` are the rule's parameter values for the resource's source (`param(name)`).
        Anything the expressions raise (a bad pattern taken from the data, a custom function's bug)
        becomes an `error` verdict for this rule and resource only; the run goes on.
        """
        if not self._ready:
            self._compile()
        try:
            with rule_params(self.rule.params if params is None else params):
                return self._evaluate(resource)
        except Exception as exc:
            log.warning("rule %s raised %s on %s", self.id, type(exc).__name__, resource.id)
            return self._error(resource, f"could not be evaluated: {_explain(exc)}")

    def _evaluate(self, resource: Resource) -> Evaluation | None:
        applicable = self.applies(resource)
        if isinstance(applicable, Evaluation):
            return applicable
        if not applicable:
            return None
        assert self.assertion is not None
        try:
            ok = truthy(self.assertion(resource.data))
        except Exception as exc:
            return self._error(resource, f"`assert` could not be evaluated: {_explain(exc)}")
        envelope = {**resource.envelope(), "source": resource.source}
        if ok:
            text = (self.pass_message.render(envelope, resource.data, self.options) if self.pass_message
                    else f"{self.rule.title}: satisfied by {resource.name}")
            return Evaluation(resource, Status.PASS, text)
        unknown = self._unknown(resource, envelope)
        if unknown is not None:
            return unknown
        return Evaluation(resource, Status.FAIL, self.message.render(envelope, resource.data, self.options))

    def _unknown(self, resource: Resource, envelope: dict[str, Any]) -> Evaluation | None:
        """A failed assertion is only a `fail` when the evidence it needs was read: `unknown_if` says when not."""
        if self.unknown_if is None:
            return None
        try:
            missing = truthy(self.unknown_if(resource.data))
        except Exception as exc:
            return self._error(resource, f"`unknown_if` could not be evaluated: {_explain(exc)}")
        if not missing:
            return None
        text = (self.unknown_message.render(envelope, resource.data, self.options) if self.unknown_message
                else f"{self.rule.title}: cannot be judged for {resource.name}, part of its evidence could not be read")
        return Evaluation(resource, Status.ERROR, text)

    def _error(self, resource: Resource, message: str) -> Evaluation:
        return Evaluation(resource, Status.ERROR, f"{self.rule.id}: {message}")

    def render(self, resource: Resource, status: Status) -> str:
        """Render this rule's message for `resource` (used by Python rules that only pick a status)."""
        if not self._ready:
            self._compile()
        envelope = {**resource.envelope(), "source": resource.source}
        template = self.message if status is Status.FAIL else self.pass_message
        if template is None:
            return f"{self.rule.title}: satisfied by {resource.name}"
        return template.render(envelope, resource.data, self.options)


class RuleSet:
    """All compiled rules of a run, indexed by the resource type they judge."""

    def __init__(self, rules: Iterable[Rule], now: datetime | None = None, params: ParamResolver | None = None):
        self.now = now or datetime.now(UTC)
        self.params = params or ParamResolver()
        opts = jmespath_options(self.now)
        self.rules = [CompiledRule(r, opts) for r in rules]
        self.by_type: dict[str, list[CompiledRule]] = {}
        self.python: list[CompiledRule] = []
        for compiled in self.rules:
            if compiled.rule.kind == "python":
                self.python.append(compiled)
            else:
                self.by_type.setdefault(compiled.rule.resource or "", []).append(compiled)

    def for_type(self, resource_type: str) -> list[CompiledRule]:
        return self.by_type.get(resource_type, [])

    def rules_for_type(self, resource_type: str) -> list[CompiledRule]:
        """Every rule (declarative or Python) that reads `resource_type`."""
        return [*self.for_type(resource_type), *(r for r in self.python if resource_type in r.rule.resources)]

    def python_input_types(self) -> set[str]:
        return {t for r in self.python for t in r.rule.resources}

    def evaluate(self, resource: Resource) -> list[tuple[CompiledRule, Evaluation]]:
        out: list[tuple[CompiledRule, Evaluation]] = []
        for compiled in self.for_type(resource.type):
            result = compiled.evaluate(resource, self.params.for_rule(compiled.rule, resource.source))
            if result is not None:
                out.append((compiled, result))
        return out

    def evaluate_python(self, compiled: CompiledRule, resources: Mapping[str, Sequence[Resource]],
                        identity: Any = None) -> list[Evaluation]:
        """Run one Python rule. Whatever goes wrong inside it (an exception, even `sys.exit()`, or a
        result that is not a list of Evaluations of resources) raises PythonRuleFailed, and the runner
        records `error` findings for this rule only."""
        if compiled.function is None:
            raise PythonRuleFailed(compiled.load_error or f"{compiled.id}: no function to run")
        ctx = PythonRuleContext(rule=compiled.rule, now=self.now, identity=identity,
                                params=self.params.for_rule(compiled.rule),
                                source_params=lambda source: self.params.for_rule(compiled.rule, source))
        try:
            with rule_params(ctx.params):
                results = list(compiled.function(resources, ctx))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a rule's bug, even SystemExit, must not end the run
            log.warning("python rule %s failed", compiled.id, exc_info=True)
            raise PythonRuleFailed(f"{compiled.id}: rule raised {type(exc).__name__}: {_brief(exc)}") from None
        for item in results:
            problem = _evaluation_problem(item)
            if problem:
                raise PythonRuleFailed(f"{compiled.id}: rule returned {problem}")
        return results


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _explain(exc: Exception) -> str:
    """A JMESPath error as it reads (it names the problem); anything else with its type."""
    return _brief(exc) if isinstance(exc, JMESPathError) else f"{type(exc).__name__}: {_brief(exc)}"


def _evaluation_problem(item: Any) -> str | None:
    """Why a Python rule's result item cannot be recorded, or None."""
    if not isinstance(item, Evaluation):
        return f"a {type(item).__name__} instead of an Evaluation"
    if not isinstance(item.resource, Resource):
        return f"an Evaluation whose resource is a {type(item.resource).__name__}"
    if not isinstance(item.status, Status) or not isinstance(item.message, str):
        return "an Evaluation without a Status and a text message"
    try:
        canonical_json(item.resource.evidence_document())
    except (TypeError, ValueError, RecursionError) as exc:
        return f"a resource that cannot be stored as JSON ({_brief(exc)})"
    return None


class PythonRuleFailed(RuntimeError):
    """A Python rule raised; the runner records `error` findings for it."""


def compile_rules(rules: Iterable[Rule], now: datetime | None = None,
                  params: ParamResolver | None = None) -> RuleSet:
    return RuleSet(rules, now, params)
