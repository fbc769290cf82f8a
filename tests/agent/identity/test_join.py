"""Joining people across sources: e-mail normalisation, company domains, aliases, service accounts."""

from __future__ import annotations

import pytest

from agent.config import IdentityConfig
from agent.identity.join import (
    Directory,
    IdentitySettings,
    PersonState,
    combine,
    normalise_email,
    normalise_key,
    record_state,
)
from tests.agent.identity.helpers import TODAY, account, day, person


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Bob@ACME.io ", "bob@acme.io"),
    ("mailto:carol@acme.com", "carol@acme.com"),
    ("\uff42\uff4f\uff42\uff20\uff41\uff43\uff4d\uff45\uff0e\uff43\uff4f\uff4d", "bob@acme.com"),  # full-width
    ("STRASSE@acme.com", "strasse@acme.com"),
    ("not an address", None), ("bob@", None), ("@acme.com", None), ("a@b@c.com", None), (None, None), (42, None),
])
def test_normalise_email(raw: object, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_alias_keys_are_emails_or_provider_login() -> None:
    assert normalise_key("GitHub:Carol-Acme") == "github:carol-acme"
    assert normalise_key("Old.Name@Acme.io") == "old.name@acme.io"
    assert normalise_key("carol-acme") is None


def settings(**kw: object) -> IdentitySettings:
    return IdentitySettings.from_config(IdentityConfig(**kw))  # type: ignore[arg-type]


def test_listed_domains_are_one_company() -> None:
    s = settings(domains=["acme.com", "acme.io"])
    assert s.canonical("bob@acme.io") == s.canonical("BOB@acme.com") == "bob@acme.com"
    assert s.canonical("bob@other.io") == "bob@other.io"  # an unlisted domain is another company
    assert settings().canonical("bob@acme.io") != settings().canonical("bob@acme.com")


def test_aliases_map_old_addresses_and_provider_logins_to_the_canonical_email() -> None:
    s = settings(domains=["acme.com", "acme.io"],
                 aliases={"old.name@acme.io": "new.name@acme.com", "github:carol-acme": "carol@acme.com"})
    assert s.canonical("Old.Name@acme.com") == "new.name@acme.com"  # alias key in another listed domain
    gh = account("github", "carol-acme", email=None).data
    assert s.account_candidates(gh) == ["carol@acme.com"]
    assert s.account_candidates(account("github", "dave-acme", email=None).data) == []


def test_service_accounts_by_list_glob_or_the_sources_own_marker() -> None:
    s = settings(domains=["acme.com"], service_accounts=["ci-bot@acme.com", "aws:deploy-*", "*-robot@acme.com"])
    assert s.service_reason(account("okta", "CI-Bot@acme.com").data)
    assert s.service_reason(account("aws", "deploy-payments").data)
    assert s.service_reason(account("google_workspace", "build-robot@acme.com").data)
    assert s.service_reason(account("okta", "carol@acme.com").data) is None
    marked = account("github", "renovate", email=None, kind="service").data
    assert "marks it as a service account" in (s.service_reason(marked) or "")


def test_a_person_on_the_roster_is_joined_with_accounts_of_every_source() -> None:
    s = settings(domains=["acme.com", "acme.io"], aliases={"github:carol-acme": "carol@acme.com"})
    accounts = [account("okta", "carol@acme.com"), account("google_workspace", "Carol@acme.io"),
                account("aws", "carol@acme.com"), account("github", "carol-acme", email=None),
                account("okta", "mallory@contractor.example")]
    directory = Directory([person("carol@acme.com")], accounts, s)
    assert [a.data["provider"] for a in directory.people["carol@acme.com"].accounts] == \
        ["okta", "google_workspace", "aws", "github"]
    assert directory.owner(accounts[-1]) is None


def test_unidentified_rows_are_kept_apart() -> None:
    bad = person("", row=7, errors=["roster.csv line 7: no e-mail"], origin="file:///hr/roster.csv#L7")
    directory = Directory([bad, person("alice@acme.com")], [], settings())
    assert directory.unidentified == [bad] and "line 7" in directory.unidentified_lines()


@pytest.mark.parametrize(("data", "state", "days"), [
    ({"status": "active", "end_date": day(-1)}, "left", 1),
    ({"status": "active", "end_date": day(0)}, "notice", None),        # the last day is still worked
    ({"status": "terminated", "end_date": day(20)}, "notice", None),   # the end date decides
    ({"status": "Terminated"}, "left", None),                          # no end date: the status word
    ({"status": "Inactive", "start_date": day(10)}, "joining", None),  # a future hire (BambooHR: Inactive)
    ({"status": "on leave"}, "current", None),
    ({"status": "left", "status_left": False}, "current", None),       # the source's own classification wins
    ({"status": "active", "errors": ["bad date"]}, "error", None),
])
def test_record_state(data: dict[str, object], state: str, days: int | None) -> None:
    got = record_state(data, TODAY)
    assert (got.state, got.days_since_left) == (state, days)


def test_several_records_error_wins_then_current_employment() -> None:
    left, current = PersonState("left", "x", days_since_left=3), PersonState("current", "y")
    assert combine([left, current]).state == "current"  # e.g. a contractor who became an employee
    assert combine([current, PersonState("error", "z")]).state == "error"


@pytest.mark.parametrize(("block", "message"), [
    ("  aliases: {carol-acme: carol@acme.com}\n", "a key is an e-mail or provider:login"),
    ("  aliases: {'github:carol-acme': carol}\n", "must be an e-mail address"),
    ("  domains: ['acme com']\n", "is not an e-mail domain"),
])
def test_bad_identity_settings_are_config_errors(tmp_path: object, block: str, message: str) -> None:
    from pathlib import Path

    from agent.config import load_config
    from agent.errors import ConfigError

    path = Path(str(tmp_path)) / "annexa.yaml"
    path.write_text("identity:\n" + block)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value) and ":2" in str(info.value)
