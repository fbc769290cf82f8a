"""Secrets in collected data: values of tags, labels and environment entries whose key looks secret.

People put credentials where they should not: an EC2 tag `db_password=…`, a GCP label `api_token`, an
Azure tag `connection_string`. The runner passes every resource's data through `Redactor.redact`
before it is hashed, stored, evaluated or exported, so no collector has to remember to do it.

What is looked at (generically, whatever the provider):

* key/value entries: any object holding a key field (`Key`, `key`, `Name`, `name`, `TagKey`,
  `ParameterKey`, `OptionName`) and a value field (`Value`, `value`, `TagValue`, `ParameterValue`) —
  AWS `Tags`/`TagList`/`TagSet`, ECS and Kubernetes `env` lists, GCP `metadata.items`;
* the entries of maps held under a tag, label or environment key (`tags`, `labels`, `userLabels`,
  `annotations`, `metadata`, `Variables`, `environment`, `env`, `appSettings`, …), and `NAME=value`
  strings in lists under such a key (container `Env`).

Other fields are never touched: the provider's own fields (`PasswordLastUsed`,
`MinimumPasswordLength`, `KmsKeyId`, …) are configuration that rules judge, not secrets.

A value is replaced by the fixed marker `[redacted]` (no hash: a hash of a short password can be
guessed), so an unchanged resource hashes the same on every run. Values a collector already
replaced with its own marker (`{"redacted": true, …}`) are left as they are.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MARKER = "[redacted]"

# Matched inside the key with case, separators and camelCase removed ("DB-Password" -> "dbpassword").
SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey", "credential",
                "connectionstring", "connstr", "signingkey", "encryptionkey", "masterkey", "sessionkey")
# Matched as whole words only ("db_pass", "sql-pwd", "storage_sas", "sentry_dsn"; not "passenger").
SECRET_WORDS = frozenset({"pass", "pwd", "sas", "dsn", "auth"})
# `<something>_key` is a secret (`stripe_key`, `license-key`), except these (`public_key`).
NOT_SECRET_BEFORE_KEY = frozenset({"public"})

KEY_FIELDS = ("Key", "key", "Name", "name", "TagKey", "ParameterKey", "OptionName")
VALUE_FIELDS = ("Value", "value", "TagValue", "ParameterValue")
CONTAINERS = frozenset({"tags", "tag", "labels", "userlabels", "resourcelabels", "annotations", "metadata",
                        "variables", "environment", "environmentvariables", "env", "envvars", "appsettings"})

CACHE_SIZE = 65536
_NESTED = (dict, list, tuple)
_SEQUENCES = (list, tuple)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _words(key: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(_CAMEL.sub("_", key).lower()) if w]


def _compact(key: str) -> str:
    return "".join(_words(key))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _is_container(key: str) -> bool:
    return _compact(key) in CONTAINERS


@dataclass(frozen=True)
class Redactor:
    """Which keys count as secret: the built-in list, plus `extra_keys`, minus `keep_keys`."""

    extra_keys: tuple[str, ...] = ()  # more key fragments, matched like SECRET_PARTS
    keep_keys: tuple[str, ...] = ()  # key names (or globs) never redacted, case-insensitive
    _extra: tuple[str, ...] = field(init=False, repr=False, default=())
    _cache: dict[str, bool] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_extra", tuple(c for c in (_compact(k) for k in self.extra_keys) if c))

    @classmethod
    def from_lists(cls, extra_keys: Iterable[str] = (), keep_keys: Iterable[str] = ()) -> Redactor:
        return cls(tuple(extra_keys), tuple(k.lower() for k in keep_keys))

    def is_secret_key(self, key: str) -> bool:
        known = self._cache.get(key)
        if known is None:
            if len(self._cache) > CACHE_SIZE:
                self._cache.clear()
            known = self._cache[key] = self._judge(key)
        return known

    def _judge(self, key: str) -> bool:
        lowered = key.strip().lower()
        if any(fnmatch.fnmatchcase(lowered, keep) for keep in self.keep_keys):
            return False
        words = _words(key)
        compact = "".join(words)
        if any(part in compact for part in SECRET_PARTS) or any(part in compact for part in self._extra):
            return True
        if any(w in SECRET_WORDS for w in words):
            return True
        return len(words) >= 2 and words[-1] == "key" and words[-2] not in NOT_SECRET_BEFORE_KEY

    def redact(self, data: Any) -> int:
        """Redact secret values in `data` in place; return how many values were replaced."""
        return self._walk(data, False)

    # -- the walk (hot: it sees every collected object, so it avoids work on ordinary fields) --------
    def _walk(self, node: Any, in_container: bool) -> int:
        count = 0
        if isinstance(node, dict):
            if in_container:
                for key, value in node.items():
                    if isinstance(key, str) and self.is_secret_key(key) and self._secret_value(value):
                        node[key] = MARKER
                        count += 1
            for vf in VALUE_FIELDS:
                if vf in node:
                    count += self._pair(node)
                    break
            for key, value in node.items():
                if isinstance(value, _NESTED):
                    count += self._walk(value, isinstance(key, str) and _is_container(key))
        elif isinstance(node, _SEQUENCES):
            for i, item in enumerate(node):
                if isinstance(item, _NESTED):
                    count += self._walk(item, in_container and not isinstance(item, dict))
                elif in_container and isinstance(item, str) and isinstance(node, list) and "=" in item:
                    name, _, value = item.partition("=")
                    if value and value != MARKER and self.is_secret_key(name):
                        node[i] = f"{name}={MARKER}"
                        count += 1
        return count

    def _pair(self, node: dict[Any, Any]) -> int:
        """A {Key: ..., Value: ...} entry whose key is secret: replace its value."""
        name = next((node[f] for f in KEY_FIELDS if isinstance(node.get(f), str)), None)
        if name is None or not self.is_secret_key(name):
            return 0
        for f in VALUE_FIELDS:
            if f in node and self._secret_value(node[f]):
                node[f] = MARKER
                return 1
        return 0

    @staticmethod
    def _secret_value(value: Any) -> bool:
        """A value worth replacing: present, not already a marker (ours or a collector's)."""
        if value is None or value == "" or value == MARKER:
            return False
        return not (isinstance(value, dict) and value.get("redacted") is True)
