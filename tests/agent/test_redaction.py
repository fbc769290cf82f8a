"""Secret-looking tag, label and environment values are redacted before storage, generically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.config import load_config
from agent.errors import ConfigError
from agent.model import canonical_json
from agent.redaction import MARKER, Redactor
from tests.conftest import World, write_config
from tests.support.evidence import evidence_payloads


@pytest.mark.parametrize("key", ["db_password", "DBPassword", "DB-PASSWD", "api_key", "x-api-key", "ApiKey",
                                 "github_token", "client_secret", "PrivateKey", "private-key", "credentials",
                                 "connection_string", "ConnectionString", "sentry_dsn", "db_pass", "stripe_key",
                                 "aws_secret_access_key", "storage_sas", "passphrase"])
def test_secret_keys(key: str) -> None:
    assert Redactor().is_secret_key(key)


@pytest.mark.parametrize("key", ["Name", "Owner", "cost-center", "Environment", "passenger", "KmsKeyId", "key",
                                 "keyname", "public_key", "aws:cloudformation:stack-name", "Team"])
def test_ordinary_keys(key: str) -> None:
    assert not Redactor().is_secret_key(key)


def sample() -> dict:  # type: ignore[type-arg]
    return {
        "InstanceId": "i-1",
        "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "db_password", "Value": "hunter2"}],
        "TagList": [{"Key": "api_token", "Value": "tok-1"}],
        "TagSet": [{"Key": "Owner", "Value": "alice"}],
        "tags": {"connection_string": "Server=x;Password=y", "env": "prod"},  # Azure
        "labels": {"api-key": "k-1", "team": "blue"},  # GCP
        "metadata": {"items": [{"key": "startup-secret", "value": "s-1"}, {"key": "ssh-keys", "value": "pub"}]},
        "Environment": {"Variables": {"DB_PASSWORD": {"redacted": True, "present": True}, "LOG_LEVEL": "debug"}},
        "containerDefinitions": [{"environment": [{"name": "SECRET_KEY", "value": "sk-1"},
                                                  {"name": "PORT", "value": "80"}]}],
        "Config": {"Env": ["PATH=/bin", "DB_PASS=pw-1"]},
        "PasswordLastUsed": "2026-01-01T00:00:00Z", "MinimumPasswordLength": 14,
        "MetadataOptions": {"HttpTokens": "required"}, "KmsKeyId": "arn:aws:kms:k",
    }


def test_every_shape_is_redacted_and_nothing_else() -> None:
    data = sample()
    assert Redactor().redact(data) == 7
    text = canonical_json(data).decode()
    for secret in ("hunter2", "tok-1", "Password=y", "k-1", "s-1", "sk-1", "pw-1"):
        assert secret not in text
    assert data["Tags"] == [{"Key": "Name", "Value": "web"}, {"Key": "db_password", "Value": MARKER}]
    assert data["tags"] == {"connection_string": MARKER, "env": "prod"}
    assert data["Config"]["Env"] == ["PATH=/bin", f"DB_PASS={MARKER}"]
    # the collector's own marker, ordinary values and the provider's own fields are untouched
    assert data["Environment"]["Variables"]["DB_PASSWORD"] == {"redacted": True, "present": True}
    for key in ("PasswordLastUsed", "MinimumPasswordLength", "MetadataOptions", "KmsKeyId", "TagSet"):
        assert data[key] == sample()[key]
    assert data["metadata"]["items"][1]["value"] == "pub"


def test_redaction_is_stable_so_unchanged_resources_hash_the_same() -> None:
    first, second = sample(), sample()
    Redactor().redact(first)
    Redactor().redact(second)
    assert canonical_json(first) == canonical_json(second)
    assert Redactor().redact(first) == 0  # already redacted: nothing more to do, same bytes
    assert canonical_json(first) == canonical_json(second)


def test_extra_and_keep_keys() -> None:
    data = {"Tags": [{"Key": "pin_code", "Value": "1234"}, {"Key": "db_password", "Value": "hunter2"},
                     {"Key": "ci_token", "Value": "t"}]}
    assert Redactor.from_lists(["PIN"], ["DB_Password", "ci_*"]).redact(data) == 1
    assert [t["Value"] for t in data["Tags"]] == [MARKER, "hunter2", "t"]


def test_configured_in_annexa_yaml_and_applied_by_the_runner(tmp_path: Path, world: World) -> None:
    config = write_config(tmp_path, world, extra="redaction:\n  extra_keys: [pin]\n  keep_keys: [build_token]\n")
    assert load_config(config).redaction.extra_keys == ["pin"]
    world.add("testkit.widget", "w1", {"encryption": {"enabled": True},
                                       "tags": {"db_password": "hunter2", "door_pin": "4711",
                                                "build_token": "public-build-id", "owner": "alice"}})
    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, quiet=True, store=store)
        first = {r["evidence"] for r in store.current_findings()}
        execute_run(app, quiet=True, store=store)  # unchanged resource: the same evidence digest
        second = {r["evidence"] for r in store.current_findings()}
        assert len(first) == 1 and first == second
        doc = json.loads(store.blobs.get_bytes(first.pop()))
    finally:
        store.close()
    assert doc["data"]["tags"] == {"db_password": MARKER, "door_pin": MARKER, "build_token": "public-build-id",
                                   "owner": "alice"}
    stored = {"annexa.db": (tmp_path / "annexa.db").read_bytes(), **evidence_payloads(tmp_path / "evidence")}
    assert len(stored) > 1
    for name, raw in stored.items():
        assert b"hunter2" not in raw and b"4711" not in raw, name


def test_bad_redaction_config_is_one_clear_error(tmp_path: Path, world: World) -> None:
    config = write_config(tmp_path, world, extra="redaction:\n  extra_key: [pin]\n")
    with pytest.raises(ConfigError, match=r"redaction\.extra_key"):
        load_config(config)
