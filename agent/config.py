"""`annexa.yaml`: load, validate and resolve. Every error names the file, line and field."""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import ConfigError
from agent.health import ExpectedGap
from agent.rules.params import ParamResolver
from agent.yamlfile import LineDict, TextFloat, dotted, line_of, load_yaml_file

DEFAULT_CONFIG = "annexa.yaml"
DEFAULT_SCHEDULE = "0 */6 * * *"  # for sources without `schedule` (daemon)
DEFAULT_VERIFY_SCHEDULE = "30 3 * * *"  # the daemon's `annexa verify --store`
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SECRET_KEYS = re.compile(r"(^|_)(token|password|secret|client_secret|api_key|apikey|private_key)$", re.I)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Strict):
    url: str = "sqlite:///annexa.db"
    evidence: str = "./evidence"

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        problem = store_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


STORE_DRIVERS = {"sqlite": ("sqlite", "sqlite+pysqlite"), "postgresql": ("postgresql", "postgresql+psycopg")}


def store_url_problem(url: str) -> str | None:
    """Why `url` cannot name an evidence store (SQLite or PostgreSQL through psycopg), or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "\0" in url:
        return "not a database URL (it contains a NUL byte)"
    try:
        parsed = make_url(url)
        backend, driver = parsed.get_backend_name(), parsed.drivername
    except (ArgumentError, ValueError):
        return "not a database URL: expected sqlite:///PATH or postgresql://USER@HOST/DB"
    if backend not in STORE_DRIVERS:
        return f"unsupported database {backend[:40]!r} (use sqlite or postgresql)"
    if driver not in STORE_DRIVERS[backend]:
        return f"unsupported driver {driver[:60]!r} (use {' or '.join(STORE_DRIVERS[backend])})"
    return None


class MetricsConfig(_Strict):
    listen: str = "127.0.0.1:9464"
    exceptions_expiring_days: int = Field(
        default=14, ge=1, le=365, description="a risk acceptance expiring within this many days counts as expiring")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit() and len(port) <= 5) \
                or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9464")
        return value


class VerifyConfig(_Strict):
    schedule: str | None = Field(default=DEFAULT_VERIFY_SCHEDULE,
                                 description="cron (UTC) for the daemon's `annexa verify --store`; null: never")
    full_every_days: int = Field(default=0, ge=0, le=366,
                                 description="above 0, the daemon's scheduled verification is incremental, and in "
                                 "full when the last full one is this many days old; 0: always full")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _valid_cron(value)


class ExpectedGapConfig(_Strict):
    """A resource type known not to be readable (in one account/region), approved until `expires`."""

    source: str
    resource_type: str
    account: str | None = None
    region: str | None = None
    reason: str = Field(min_length=3, max_length=500)
    approved_by: str = Field(min_length=1, max_length=200)
    expires: dt.date

    @field_validator("account", "region", mode="before")
    @classmethod
    def _quoted_ids(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError("write the id in quotes (YAML reads an unquoted number and drops leading zeros)")
        return value

    @field_validator("reason", "approved_by")
    @classmethod
    def _readable(cls, value: str) -> str:
        """Shown to auditors in exports: no blank text, control characters or bidi overrides."""
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
            raise ValueError("must not contain control or invisible formatting characters")
        return value

    @field_validator("expires", mode="before")
    @classmethod
    def _a_date(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime) or not isinstance(value, (dt.date, str)) \
                or (isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip())):
            raise ValueError(f"expected a date such as 2027-03-31 (got {str(value)[:40]!r})")
        return value

    def gap(self) -> ExpectedGap:
        return ExpectedGap(source=self.source, resource_type=self.resource_type, reason=self.reason,
                           approved_by=self.approved_by, expires=self.expires, account=self.account,
                           region=self.region)


def _valid_cron(value: str | None) -> str | None:
    if value is None:
        return value
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"not a valid 5-field cron expression ({exc})") from None
    return value


class IdentityConfig(_Strict):
    """How people are joined across sources (see agent/identity/join.py and docs/people.md)."""

    domains: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    service_accounts: list[str] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        for domain in value:
            if not re.match(r"^@?[^@\s/]+\.[^@\s/]+$", domain.strip()):
                raise ValueError(f"{domain!r} is not an e-mail domain such as acme.com")
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        from agent.identity.join import normalise_email, normalise_key

        for key, target in value.items():
            if normalise_key(str(key)) is None:
                raise ValueError(f"alias {key!r}: a key is an e-mail or provider:login such as github:carol-acme")
            if normalise_email(str(target)) is None:
                raise ValueError(f"alias {key!r}: the value {target!r} must be an e-mail address")
        return value


class RulesConfig(_Strict):
    paths: list[str] = Field(default_factory=list, description="extra rule folders or files")
    disabled: list[str] = Field(default_factory=list, description="rule ids (globs) not to evaluate")
    params: dict[str, Any] = Field(default_factory=dict, description="rule parameters for every source")


class ExportConfig(_Strict):
    signing_key: str | None = Field(default=None, description="path to an Ed25519 private key (PEM)")
    signing_key_env: str | None = Field(default=None, description="env var holding an Ed25519 PEM key")


SEVERITIES = ("critical", "high", "medium", "low", "info")
DEFAULT_SLA_DAYS = {"critical": 7.0, "high": 30.0, "medium": 90.0, "low": 180.0}


MAX_SLA_DAYS = 3650  # ten years: anything longer is a typo, and inf/huge values break date arithmetic


class RemediationConfig(_Strict):
    """Remediation deadlines: days from a finding's first `fail` to its `pass` (agent/remediation.py)."""

    sla_days: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_SLA_DAYS),
                                       description="severity -> days allowed to fix a failure")

    @field_validator("sla_days")
    @classmethod
    def _severities(cls, value: dict[str, float]) -> dict[str, float]:
        for severity, days in value.items():
            if severity not in SEVERITIES:
                raise ValueError(f"unknown severity {severity!r} (use {', '.join(SEVERITIES)})")
            if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 < days <= MAX_SLA_DAYS:
                raise ValueError(f"{severity}: expected a number of days greater than 0 and at most "
                                 f"{MAX_SLA_DAYS} (got {str(days)[:40]!r})")
        return value

    def days_for(self, severity: str) -> float | None:
        """The SLA in days for a severity (defaults fill the severities not configured; `info` has none)."""
        return self.sla_days.get(severity, DEFAULT_SLA_DAYS.get(severity))


class RedactionConfig(_Strict):
    """Secret-looking tag/label/environment values are replaced before storage (agent/redaction.py)."""

    extra_keys: list[str] = Field(default_factory=list, description="more key fragments whose values are redacted")
    keep_keys: list[str] = Field(default_factory=list, description="key names (globs) never redacted")


class SourceConfig(BaseModel):
    """Keys every source has. Type-specific keys are validated by the collector's own model."""

    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    schedule: str | None = None
    enabled: bool = True
    endpoint: str | None = None
    token_env: str | None = None
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second")
    max_concurrency: int = Field(default=8, ge=1, le=64)
    params: dict[str, Any] = Field(default_factory=dict, description="rule parameters for this source")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME.fullmatch(value):
            raise ValueError("expected letters, digits, '-', '_' or '.', at most 63 characters")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _valid_cron(value)

    def options(self) -> dict[str, Any]:
        """The type-specific keys (everything not common to all sources)."""
        return dict(self.model_extra or {})


class _ConfigModel(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    soa: str | None = None
    exceptions: str | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    expected_gaps: list[ExpectedGapConfig] = Field(default_factory=list)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    remediation: RemediationConfig = Field(default_factory=RemediationConfig)


@dataclass
class Config:
    """The validated configuration, with paths resolved against the config file's folder."""

    path: Path | None
    base_dir: Path
    store_url: str
    evidence_dir: str
    soa_path: Path | None
    exceptions_path: Path | None
    sources: list[SourceConfig]
    identity: IdentityConfig
    metrics: MetricsConfig
    rules: RulesConfig
    export: ExportConfig
    source_options: dict[str, Any] = field(default_factory=dict)
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    expected_gaps: list[ExpectedGap] = field(default_factory=list)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    remediation: RemediationConfig = field(default_factory=RemediationConfig)

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(str(self.path or DEFAULT_CONFIG), f"unknown source {name!r} (sources: {known})")

    def param_resolver(self) -> ParamResolver:
        """Rule parameter values: rule defaults < `rules.params` < each source's `params`."""
        return ParamResolver(self.rules.params, {s.name: s.params for s in self.sources})

    def configured_params(self) -> list[tuple[str, dict[str, Any]]]:
        """(config field, values) of every parameter block, for checking against the rules."""
        out = [("rules.params", self.rules.params)]
        out.extend((f"sources[{i}].params", s.params) for i, s in enumerate(self.sources) if s.params)
        return out

    def resolve(self, value: str) -> Path:
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (self.base_dir / p)


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, not to the current folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        rel = url[len(prefix) :]
        if rel and not rel.startswith(":"):
            return prefix + str((base / rel).resolve())
    return url


def _find_secrets(doc: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and SECRET_KEYS.search(key) and isinstance(value, str) and value:
                return (*path, key)
            found = _find_secrets(value, (*path, key))
            if found:
                return found
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found = _find_secrets(item, (*path, i))
            if found:
                return found
    return None


def shown(value: Any, limit: int = 60) -> str:
    """A value for an error message: as written in the file, and short (a hostile value can be huge)."""
    if isinstance(value, TextFloat):
        text = value.source_text
    elif isinstance(value, dict | list):
        text = f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)} item(s)"
        return text
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "is-instance"}


def clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union-branch tags (e.g. "literal['a','b']", "list[str]") from a location."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and "(" not in p and p not in _TYPE_TAGS))


def explain(errors: list[Any]) -> tuple[tuple[Any, ...], str, str]:
    """(location, message, type) for the first error; union alternatives are merged into one message."""
    first = errors[0]
    loc = clean_loc(tuple(first["loc"]))
    alternatives = [e for e in errors if clean_loc(tuple(e["loc"]))[: len(loc)] == loc]
    if len(alternatives) > 1:
        msgs = list(dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in alternatives))
        return loc, "; or ".join(msgs) + f" (got {shown(first.get('input'))})", "union"
    return loc, first["msg"].removeprefix("Value error, "), first["type"]


def _validation_error(file: str, doc: Any, exc: ValidationError) -> ConfigError:
    loc, msg, etype = explain(exc.errors())
    err = {"type": etype, "msg": msg, "input": exc.errors()[0].get("input")}
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] not in ("value_error", "union"):
        msg = f"{msg} (got {shown(err['input'])})"
    return ConfigError(file, msg, line=line_of(doc, loc), field=dotted(loc))


def _check_sources(file: str, doc: Any, sources: list[SourceConfig]) -> None:
    from collectors.registry import collector_types, get_collector

    seen: set[str] = set()
    for index, src in enumerate(sources):
        loc: tuple[Any, ...] = ("sources", index)
        if src.name in seen:
            raise ConfigError(file, f"duplicate source name {src.name!r}", line=line_of(doc, (*loc, "name")),
                              field=dotted((*loc, "name")))
        seen.add(src.name)
        try:
            collector = get_collector(src.type)
        except KeyError:
            known = ", ".join(sorted(collector_types())) or "none installed"
            raise ConfigError(file, f"unknown source type {src.type!r} (known: {known})",
                              line=line_of(doc, (*loc, "type")), field=dotted((*loc, "type"))) from None
        model = getattr(collector, "Options", None)
        if model is not None:
            try:
                model.model_validate(src.options())
            except ValidationError as exc:
                sub, msg, etype = explain(exc.errors())
                if etype == "extra_forbidden":
                    msg = "unknown key for this source type"
                raise ConfigError(file, msg, line=line_of(doc, (*loc, *sub)), field=dotted((*loc, *sub))) from None


def _check_gaps(file: str, doc: Any, model: _ConfigModel) -> None:
    """Each expected gap names a configured source and one of its collector's resource types."""
    from collectors.registry import get_collector

    by_name = {s.name: s for s in model.sources}
    for index, gap in enumerate(model.expected_gaps):
        loc: tuple[Any, ...] = ("expected_gaps", index)
        src = by_name.get(gap.source)
        if src is None:
            known = ", ".join(sorted(by_name)) or "none configured"
            raise ConfigError(file, f"unknown source {gap.source!r} (sources: {known})",
                              line=line_of(doc, (*loc, "source")), field=dotted((*loc, "source")))
        types = get_collector(src.type).resource_types
        if gap.resource_type not in types:
            raise ConfigError(file, f"source {src.name!r} ({src.type}) has no resource type {gap.resource_type!r}",
                              line=line_of(doc, (*loc, "resource_type")), field=dotted((*loc, "resource_type")))


def _resolve_source_paths(sources: list[SourceConfig], base: Path) -> None:
    """Relative file paths in source options (a collector's `path_options`) are relative to annexa.yaml."""
    from collectors.registry import get_collector

    for src in sources:
        extra = src.model_extra or {}
        for key in getattr(get_collector(src.type), "path_options", ()):
            value = extra.get(key)
            if isinstance(value, str) and value.strip():
                path = Path(os.path.expanduser(value))
                extra[key] = str(path if path.is_absolute() else base / path)


def load_config(path: str | Path | None = None, *, require: bool = False) -> Config:
    """Load `path` (or $ANNEXA_CONFIG, or ./annexa.yaml). A missing default file means defaults."""
    explicit = path or os.environ.get("ANNEXA_CONFIG")
    cfg_path = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    if cfg_path.exists():
        doc = load_yaml_file(cfg_path)
        if doc is None:
            doc = LineDict()
        if not isinstance(doc, dict):
            raise ConfigError(str(cfg_path), "expected a mapping at the top level", line=1)
        base = cfg_path.resolve().parent
    elif explicit or require:
        raise ConfigError(str(cfg_path), "file not found (create one with `annexa init`)")
    else:
        doc, base, cfg_path = LineDict(), Path.cwd(), None  # type: ignore[assignment]
    file = str(cfg_path or DEFAULT_CONFIG)
    secret = _find_secrets(doc)
    if secret:
        raise ConfigError(file, "secrets must not be written in the config file; put the value in an "
                          "environment variable and name it with `token_env`",
                          line=line_of(doc, secret), field=dotted(secret))
    try:
        model = _ConfigModel.model_validate(doc)
    except ValidationError as exc:
        raise _validation_error(file, doc, exc) from None
    _check_sources(file, doc, model.sources)
    _check_gaps(file, doc, model)
    _resolve_source_paths(model.sources, base)
    store_url = os.environ.get("ANNEXA_STORE_URL") or model.store.url
    if store_url != model.store.url:
        problem = store_url_problem(store_url)
        if problem:
            raise ConfigError("ANNEXA_STORE_URL", problem)
    evidence = model.store.evidence
    if "://" not in evidence:
        evidence = str((base / os.path.expanduser(evidence)).resolve())
    return Config(
        path=cfg_path,
        base_dir=base,
        store_url=_resolve_sqlite(store_url, base),
        evidence_dir=evidence,
        soa_path=(base / model.soa) if model.soa else None,
        exceptions_path=(base / model.exceptions) if model.exceptions else None,
        sources=model.sources,
        identity=model.identity,
        metrics=model.metrics,
        rules=model.rules,
        export=model.export,
        redaction=model.redaction,
        expected_gaps=[g.gap() for g in model.expected_gaps],
        verify=model.verify,
        remediation=model.remediation,
    )
