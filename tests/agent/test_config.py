"""annexa.yaml validation: every error names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "annexa.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def test_defaults_and_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "sources: []\n"))
    assert cfg.store_url == f"sqlite:///{(tmp_path / 'annexa.db').resolve()}"
    assert cfg.evidence_dir == str((tmp_path / "evidence").resolve())
    assert cfg.metrics.listen == "127.0.0.1:9464"


def test_env_store_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNEXA_STORE_URL", "postgresql+psycopg://u@db/annexa")
    assert load_config(write(tmp_path, "store: {url: 'sqlite:///x.db'}\n")).store_url.startswith("postgresql")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = error_for(tmp_path, "store:\n  url: sqlite:///a.db\nsorces: []\n")
    assert (err.line, err.field) == (3, "sorces") and "unknown key" in str(err)


def test_unknown_source_type_lists_known_types(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - name: x\n    type: awz\n")
    assert err.line == 3 and err.field == "sources[0].type"
    assert "unknown source type 'awz'" in str(err) and "aws" in str(err)


def test_type_specific_keys_are_validated_by_the_collector(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - name: a\n    type: aws\n    regions: [us-east-1]\n    acounts: x\n")
    assert err.line == 5 and err.field == "sources[0].acounts"
    err = error_for(tmp_path, "sources:\n  - name: a\n    type: aws\n    accounts: [1234567890123]\n")
    assert err.line == 4 and "12 digits" in str(err)


def test_bad_cron_schedule(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - name: a\n    type: aws\n    schedule: '61 * * * *'\n")
    assert err.line == 4 and "cron" in str(err)


def test_duplicate_source_names(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - {name: a, type: aws}\n  - {name: a, type: aws}\n")
    assert err.line == 3 and "duplicate source name" in str(err)


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - name: gh\n    type: aws\n    token: ghp_123secret\n")
    assert err.line == 4 and "token_env" in str(err)
    assert "ghp_123secret" not in str(err)


def test_yaml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:
        load_config(write(tmp_path, "sources:\n  - name: [a\n"))
    assert "annexa.yaml:" in str(info.value) and "invalid YAML" in str(info.value)


def test_explicit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_listen_address(tmp_path: Path) -> None:
    err = error_for(tmp_path, "metrics:\n  listen: localhost\n")
    assert err.field == "metrics.listen" and err.line == 2


def test_unquoted_account_ids_keep_leading_zeros(tmp_path: Path) -> None:
    text = "sources:\n  - name: a\n    type: aws\n    accounts: [012345678901, 123456789012]\n"
    cfg = load_config(write(tmp_path, text))
    from collectors.aws import AwsOptions

    opts = AwsOptions.model_validate(cfg.sources[0].options())
    assert opts.accounts == ["012345678901", "123456789012"]


def test_union_errors_are_one_readable_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "sources:\n  - name: a\n    type: aws\n    accounts: everything\n")
    assert err.field == "sources[0].accounts" and "literal" not in str(err)
    assert "'current'" in str(err) and "everything" in str(err)


# --- issue 9, point 6: hostile values in annexa.yaml ----------------------------------------------------

@pytest.mark.parametrize(("url", "words"), [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("postgresql+asyncpg://u@h/db", "unsupported driver 'postgresql+asyncpg'"),
    ("postgresql://[::1", "not a database URL"),
    ("garbage", "not a database URL"),
])
def test_store_url_is_checked_when_the_config_loads(tmp_path: Path, url: str, words: str) -> None:
    err = error_for(tmp_path, f"store:\n  url: '{url}'\n")
    assert (err.line, err.field) == (2, "store.url") and words in err.detail


def test_env_store_url_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNEXA_STORE_URL", "postgresql://[::1")
    err = error_for(tmp_path, "sources: []\n")
    assert err.file == "ANNEXA_STORE_URL" and "not a database URL" in err.detail


@pytest.mark.parametrize(("text", "field", "words"), [
    ("metrics:\n  listen: 'h:" + "9" * 5000 + "'\n", "metrics.listen", "expected HOST:PORT"),
    ("metrics:\n  listen: 'h:\u00b2'\n", "metrics.listen", "expected HOST:PORT"),
    ("sources:\n  - {name: kit, type: testkit, world: w, max_concurrency: " + "9" * 30 + "}\n", None, "out of range"),
    ("sources:\n  - {name: \"kit\\n\", type: testkit, world: w}\n", "sources[0].name", "expected letters"),
    ("soa: 5.10\n", "soa", "got 5.10"),
    ("identity:\n  aliases: {a: " + "[" * 100 + "]" * 100 + "}\n", None, "deeper than"),
    ("? [a]\n: 1\n", None, "key must be plain text"),
])
def test_hostile_values_are_one_clear_error(tmp_path: Path, text: str, field: str | None, words: str) -> None:
    from agent.errors import InputError

    with pytest.raises(InputError) as info:  # a ConfigError, or the YAML loader's InputError
        load_config(write(tmp_path, text))
    err = info.value
    assert err.field == field and words in err.detail and err.line is not None
    assert len(str(err)) < 300


@pytest.mark.parametrize(("source", "field", "words"), [
    ("type: aws\n    services: [s3x, iam]", "services", "unknown service 's3x' (did you mean 's3'?)"),
    ("type: aws\n    exclude_services: [lamda]", "exclude_services", "did you mean 'lambda'?"),
    ("type: aws\n    services: []", "services", "an empty list selects no service"),
    ("type: azure\n    tenant_id: 00000000-0000-0000-0000-000000000000\n    services: [storge]",
     "services", "did you mean 'storage'?"),
    ("type: gcp\n    organization: '123456789012'\n    services: []", "services", "selects no service"),
])
def test_misspelt_or_empty_service_lists_are_refused(tmp_path: Path, source: str, field: str, words: str) -> None:
    error = error_for(tmp_path, f"sources:\n  - name: s\n    {source}\n")
    assert f"sources[0].{field}" in str(error) and words in str(error), str(error)


def test_known_service_names_are_accepted_including_lambda(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "sources:\n  - name: s\n    type: aws\n    services: [lambda, s3]\n"
                               "    exclude_services: []\n"))
    assert config.sources[0].options()["services"] == ["lambda", "s3"]


@pytest.mark.parametrize("days", ["'5'", "true", ".inf", ".nan", "1e308", "0", "-3", "3651"])
def test_remediation_sla_days_are_plain_numbers_in_range(tmp_path: Path, days: str) -> None:
    error = error_for(tmp_path, f"remediation:\n  sla_days:\n    high: {days}\n")
    assert "remediation.sla_days" in str(error) and "at most 3650" in str(error), str(error)


def test_remediation_sla_days_accept_whole_and_fractional_days(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "remediation:\n  sla_days:\n    high: 30\n    low: 0.5\n"))
    assert config.remediation.days_for("high") == 30 and config.remediation.days_for("low") == 0.5


GAP = ("sources:\n  - name: aws\n    type: aws\nexpected_gaps:\n  - source: aws\n"
       "    resource_type: aws.guardduty.region\n")


@pytest.mark.parametrize(("extra", "field", "words"), [
    ("    reason: '     '\n    approved_by: CISO\n    expires: 2027-01-01\n", "reason", "blank"),
    ("    reason: \"legacy\\u202eaccount\"\n    approved_by: CISO\n    expires: 2027-01-01\n", "reason",
     "control or invisible"),
    ("    reason: legacy account\n    approved_by: \"CI\\x07SO\"\n    expires: 2027-01-01\n", "approved_by",
     "control or invisible"),
    ("    reason: legacy account\n    approved_by: CISO\n    expires: 1798761600\n", "expires", "a date such as"),
    ("    reason: legacy account\n    approved_by: CISO\n    expires: 2027-01-01T10:00:00\n", "expires",
     "a date such as"),
    ("    reason: legacy account\n    approved_by: CISO\n    expires: 2027-01-01\n    account: 123456789012\n",
     "account", "in quotes"),
])
def test_expected_gaps_refuse_unreadable_or_ambiguous_values(tmp_path: Path, extra: str, field: str,
                                                              words: str) -> None:
    error = error_for(tmp_path, GAP + extra)
    assert f"expected_gaps[0].{field}" in str(error) and words in str(error), str(error)


def test_expected_gap_text_is_trimmed_and_a_quoted_account_kept(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GAP + "    reason: '  legacy account  '\n    approved_by: CISO\n"
                               "    expires: '2027-01-01'\n    account: '012345678901'\n"))
    gap = config.expected_gaps[0]
    assert gap.reason == "legacy account" and gap.account == "012345678901" and str(gap.expires) == "2027-01-01"
