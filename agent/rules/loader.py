"""Find, parse and check rule packs. Every problem names the file and line; the CLI exits 2."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from agent.errors import RuleError
from agent.rules.functions import expression_problems
from agent.rules.spec import Rule
from agent.rules.template import MessageTemplate
from agent.yamlfile import dotted, line_of, load_yaml_file

RULE_SUFFIXES = (".yaml", ".yml")


def builtin_rule_root() -> Path:
    """The folder of the rule packs shipped with Annexa (inside the installed package)."""
    return Path(str(files("rules")))


def rule_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Every rule file under the given folders (recursively) or the given files, sorted."""
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix in RULE_SUFFIXES and f.is_file())
        elif p.is_file():
            yield p
        else:
            raise RuleError(str(p), "no such rule file or folder")


def _provider_for(path: Path, doc: dict[str, Any]) -> str:
    declared = doc.get("provider")
    if isinstance(declared, str) and declared:
        return declared
    return path.parent.name if path.parent.name != "rules" else path.stem


def parse_rule_file(path: Path) -> list[Rule]:
    """Parse one pack (`provider:` + `rules:` list). Schema errors name file, line and field."""
    doc = load_yaml_file(path)
    if not isinstance(doc, dict) or "rules" not in doc:
        raise RuleError(str(path), "expected a mapping with a `rules:` list", line=1)
    unknown = set(doc) - {"provider", "rules", "description"}
    if unknown:
        key = sorted(unknown)[0]
        raise RuleError(str(path), "unknown top-level key (expected provider, description, rules)",
                        line=line_of(doc, (key,)), field=key)
    items = doc["rules"]
    if not isinstance(items, list):
        raise RuleError(str(path), "`rules` must be a list", line=line_of(doc, ("rules",)), field="rules")
    provider = _provider_for(path, doc)
    rules: list[Rule] = []
    for index, item in enumerate(items):
        loc = ("rules", index)
        if not isinstance(item, dict):
            raise RuleError(str(path), "each rule must be a mapping", line=line_of(doc, loc), field=dotted(loc))
        data = {**item, "provider": provider, "file": str(path), "line": line_of(doc, loc) or 0,
                "lines": dict(getattr(item, "key_lines", {}))}
        try:
            rules.append(Rule.model_validate(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            sub = tuple(p for p in err["loc"] if p != "assert_") or ()
            field = err["loc"][0] if err["loc"] else None
            if field == "assert_":
                sub = ("assert",)
            msg = "unknown key" if err["type"] == "extra_forbidden" else (
                "required key is missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, "))
            rule_id = item.get("id", f"#{index + 1}")
            raise RuleError(str(path), f"rule {rule_id}: {msg}", line=line_of(doc, (*loc, *sub)),
                            field=dotted(sub) if sub else None) from None
    return rules


def compile_expression(expr: str, field: str, params: Mapping[str, Any] | None = None) -> Any:
    """Compile a JMESPath expression and check it (depth, regex literals); ValueError says what is wrong."""
    try:
        compiled = jmespath.compile(expr)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath in `{field}`: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ValueError(f"invalid JMESPath in `{field}`: expression nested too deeply") from None
    for problem in expression_problems(compiled.parsed, params):
        raise ValueError(f"`{field}`: {problem}")
    return compiled


def _check_rule(rule: Rule, known_types: set[str] | None, import_functions: bool = True) -> None:
    path = rule.file
    for field, expr in (("where", rule.where), ("assert", rule.assert_), ("unknown_if", rule.unknown_if)):
        if expr is None:
            continue
        try:
            compile_expression(expr, field, rule.params)
        except ValueError as exc:
            raise RuleError(path, f"rule {rule.id}: {exc}", line=rule.line_of(field), field=field) from None
    for field, text in (("message", rule.message), ("pass_message", rule.pass_message),
                        ("unknown_message", rule.unknown_message)):
        if text is not None:
            try:
                template = MessageTemplate(text)
                for expr in template.expressions():
                    for problem in expression_problems(expr.parsed, rule.params):
                        raise ValueError(f"placeholder: {problem}")
            except ValueError as exc:
                raise RuleError(path, f"rule {rule.id}: {exc}", line=rule.line_of(field), field=field) from None
    if known_types is not None:
        field = "resource" if rule.resource else "resources"
        for rtype in rule.input_types:
            if rtype not in known_types:
                raise RuleError(path, f"rule {rule.id}: unknown resource type {rtype!r} (no installed "
                                "collector emits it)", line=rule.line_of(field), field=field)
    if rule.kind == "python" and import_functions:
        try:
            resolve_function(rule.function or "")
        except ValueError as exc:
            raise RuleError(path, f"rule {rule.id}: cannot load function {rule.function!r}: {exc}",
                            line=rule.line_of("function"), field="function") from None


def resolve_function(spec: str) -> Any:
    """The callable named `package.module:attr`. Any failure, even in the module's own import-time code
    (an exception, `sys.exit()`), is a ValueError that says what happened and where."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError("expected package.module:callable")
    try:
        target: Any = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except ModuleNotFoundError as exc:
        raise ValueError(f"no module named {exc.name or module_name!r}") from None
    except SystemExit as exc:
        raise ValueError(f"importing {module_name} called sys.exit({exc.code!r}){_raised_at(exc)}") from None
    except BaseException as exc:  # a rule module may raise anything while it is imported
        raise ValueError(f"importing {module_name} raised {type(exc).__name__}: {_first_line(exc)}"
                         f"{_raised_at(exc)}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attr!r}") from None
        except Exception as exc:  # a module-level __getattr__ that raises
            raise ValueError(f"looking up {attr!r} raised {type(exc).__name__}: {_first_line(exc)}") from None
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 200 else first[:197] + "..."


def _raised_at(exc: BaseException) -> str:
    """` (at FILE:LINE)`: the last frame of the traceback outside the import machinery."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _normalise_controls(rule: Rule) -> Rule:
    from agent.catalogue import UnknownControlError, load_catalogue

    catalogue = load_catalogue()
    resolved: list[str] = []
    for cid in rule.controls:
        try:
            ids = catalogue.resolve(cid)
        except UnknownControlError as exc:
            raise RuleError(rule.file, f"rule {rule.id}: {exc}", line=rule.line_of("controls"),
                            field="controls") from None
        resolved.extend(i for i in ids if i not in resolved)
    return rule.model_copy(update={"controls": tuple(resolved)})


def load_rules(extra_paths: Iterable[Path | str] = (), *, builtin: bool = True,
               known_types: set[str] | None = None, import_functions: bool = True) -> list[Rule]:
    """Load and fully check all rules: schema, JMESPath, templates, types, controls, unique ids.

    `import_functions=False` leaves Python rules' modules to the run: one that cannot be imported
    then gives `error` findings for its own rules (agent.rules.engine), while `rules validate`
    (the default, True) reports it with file and line."""
    roots: list[Path | str] = [builtin_rule_root()] if builtin else []
    roots.extend(extra_paths)
    seen: dict[str, Rule] = {}
    out: list[Rule] = []
    files_seen: set[Path] = set()
    for path in rule_files(roots):
        if path.resolve() in files_seen:
            continue
        files_seen.add(path.resolve())
        for rule in parse_rule_file(path):
            if rule.id in seen:
                first = seen[rule.id]
                raise RuleError(rule.file, f"duplicate rule id {rule.id} (first defined at {first.file}:"
                                f"{first.line})", line=rule.line_of("id"), field="id")
            _check_rule(rule, known_types, import_functions)
            rule = _normalise_controls(rule)
            seen[rule.id] = rule
            out.append(rule)
    return out
