"""Shared CLI state: the config, the store and the rules, each loaded only when a command needs it."""

from __future__ import annotations

from functools import cached_property

import click

from agent.catalogue import Catalogue, load_catalogue
from agent.config import Config, load_config
from agent.rules.spec import Rule


class App:
    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self.notes: list[str] = []  # shown when the command succeeds; a failing command prints only its error

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @cached_property
    def config(self) -> Config:
        return load_config(self.config_path)

    @cached_property
    def catalogue(self) -> Catalogue:
        return load_catalogue()

    @cached_property
    def rules(self) -> list[Rule]:
        from agent.rules.loader import load_rules
        from agent.rules.params import check_configured_params
        from collectors.registry import known_resource_types

        cfg = self.config
        paths = [cfg.resolve(p) for p in cfg.rules.paths]
        # A Python rule whose module cannot be imported is `rules validate`'s to report (exit 2); a run
        # records `error` findings for that rule only and goes on with the others.
        rules = load_rules(paths, known_types=set(known_resource_types()), import_functions=False)
        check_configured_params(str(cfg.path or "annexa.yaml"), cfg.configured_params(), rules)
        return rules

    def rule_set(self):  # type: ignore[no-untyped-def]
        """The active rules compiled for a run, with the configured parameter values."""
        from agent import clock
        from agent.rules.engine import RuleSet

        # The run's clock: $ANNEXA_NOW moves it, so date-based rules (leavers, stale accounts) can be
        # asked "what will the posture be on that date?" and tested on fixed dates.
        return RuleSet(self.active_rules(), now=clock.now(), params=self.config.param_resolver())

    def active_rules(self) -> list[Rule]:
        """Rules minus those disabled in the config (`rules.disabled`, globs allowed)."""
        from fnmatch import fnmatchcase

        disabled = self.config.rules.disabled
        return [r for r in self.rules if not any(fnmatchcase(r.id, pat) for pat in disabled)]

    def store(self, migrate_schema: str = "auto"):  # type: ignore[no-untyped-def]
        from agent.store.store import EvidenceStore

        cfg = self.config
        return EvidenceStore.open(cfg.store_url, cfg.evidence_dir, migrate_schema=migrate_schema)

    def store_exists(self) -> bool:
        """False when the configured store is a SQLite file that does not exist yet.

        Read-only commands (controls, findings, runs) then show an empty state instead of creating
        a database in whatever folder the user happens to be in.
        """
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.config.store_url)
        except (ArgumentError, ValueError):
            return True  # let opening the store report the bad URL
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return True
        from pathlib import Path

        try:
            return Path(url.database).exists()
        except OSError:  # e.g. a file name too long: let opening the store report it
            return True

    def control_ids(self, values: tuple[str, ...]) -> list[str]:
        """Normalise user-given control ids; a 2013 id is accepted and its 2022 mapping is announced."""
        out: list[str] = []
        for value in values:
            ids = self.catalogue.resolve(value)
            legacy = self.catalogue.legacy_control(value)
            if legacy is not None:
                self.note(f"note: {legacy.id} ({legacy.title}) is an ISO 27001:2013 control; "
                          f"using its 2022 control(s): {', '.join(ids)}")
            out.extend(i for i in ids if i not in out)
        return out


pass_app = click.make_pass_decorator(App)
