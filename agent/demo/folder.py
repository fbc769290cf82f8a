"""The demo folder: what the demo writes there, and the guard against wiping a folder it did not write.

A demo folder holds a marker file. Re-running the demo on it removes only the files the demo writes;
a folder without the marker, or with anything else in it, is refused (exit 2) rather than cleared.
"""

from __future__ import annotations

import fnmatch
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.errors import AnnexaError

MARKER = ".annexa-demo"
CONFIG = "annexa.yaml"
SOA = "soa.yaml"
EXCEPTIONS = "exceptions.yaml"
DB = "annexa.db"
EVIDENCE = "evidence"
POLICIES = "policies"
SIMULATOR_NOTE = "# The SaaS sources below point at simulators that only listen while `annexa demo` runs.\n"
SOURCES = "sources"  # files of the simulated SaaS tenants (e.g. the HR roster), one folder per source
BUNDLE = "annexa-demo-export.zip"

FILES = {MARKER, CONFIG, SOA, EXCEPTIONS, DB, BUNDLE}
# What the store and its locks create beside the database (journal, WAL, migration and source locks,
# whatever lock files later versions add) and what an interrupted export may leave: matched by pattern.
FILE_PATTERNS = (f"{DB}*", "*.lock", f".{BUNDLE}.*.partial")
FOLDERS = {EVIDENCE, POLICIES, SOURCES}

MARKER_TEXT = ("This folder was written by `annexa demo`. Running `annexa demo` on it again deletes and\n"
               "recreates everything here; put nothing else in it.\n")


class NotADemoFolder(AnnexaError):
    """The --dir folder has content the demo did not write."""


def _demo_entry(path: Path) -> bool:
    """Could the demo have written this entry? (a plain file or folder of the expected kind)"""
    if path.is_symlink():
        return False
    name = path.name
    if name in FOLDERS:
        return path.is_dir()
    if name in FILES or any(fnmatch.fnmatchcase(name, pattern) for pattern in FILE_PATTERNS):
        return path.is_file()
    return False


def prepare(folder: Path) -> None:
    """Make `folder` an empty demo folder: create it, or clear a previous demo's files from it."""
    if folder.exists() and not folder.is_dir():
        raise NotADemoFolder(f"{folder}: not a folder; choose another --dir")
    if folder.is_dir():
        entries = sorted(p.name for p in folder.iterdir())
        if entries and MARKER not in entries:
            raise NotADemoFolder(f"{folder}: not empty and not an annexa demo folder (it contains "
                                 f"{', '.join(entries[:3])}{', …' if len(entries) > 3 else ''}); "
                                 "choose an empty or new --dir")
        foreign = [n for n in entries if not _demo_entry(folder / n)]
        if foreign:
            raise NotADemoFolder(f"{folder}: contains files the demo did not write ({', '.join(foreign[:3])}); "
                                 "move them away or choose another --dir")
        for name in entries:
            path = folder / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def config_text(source: str, regions: list[str], *, soa: bool = True, exceptions: bool = True,
                extra_sources: list[str] | None = None) -> str:
    """annexa.yaml for the demo: relative paths, so it works from any current folder.

    `extra_sources` are the simulated SaaS/cloud tenants' source entries (YAML list items).
    """
    extra = "".join("\n".join("  " + line if line else line for line in block.rstrip().splitlines()) + "\n"
                    for block in extra_sources or [])
    soa_line = f"soa: {SOA:<28}# Statement of Applicability\n" if soa else ""
    if exceptions:
        soa_line += f"exceptions: {EXCEPTIONS:<21}# risk acceptances (owner, approver, expiry)\n"
    return f"""\
# Written by `annexa demo`: the store below holds runs over a SIMULATED AWS organisation.
# Explore it from anywhere:  annexa findings --config DIR/annexa.yaml  (or ANNEXA_CONFIG=DIR/annexa.yaml)
# Re-run `annexa demo --dir DIR` to rebuild it. Note: `annexa run` with this file would collect from
# whatever real AWS account your credentials point at, not from the simulation.
store:
  url: sqlite:///{DB:<16}# relative to this file
  evidence: ./{EVIDENCE:<19}# evidence blobs, also relative
{soa_line}{SIMULATOR_NOTE if extra else ""}sources:
  - name: {source}
    type: aws
    accounts: organization   # walk the Organization, assume role_name in each member account
    role_name: AnnexaReadOnly
    regions: [{", ".join(regions)}]
{extra}identity:
  domains: [acme.example]
  aliases:                  # accounts without an e-mail, mapped to the person who owns them
    "aws:break-glass-admin": alice@acme.example
  service_accounts:         # machines: never leavers, never orphans (globs allowed)
    - ci-bot@acme.example
    - "aws:security-scanner"
    - "aws:payments-deployer"
    - "aws:ci-legacy"
"""


# Controls a fully remote company with no premises of its own can exclude, with the reason.
NOT_APPLICABLE = {
    "A.7.1": "Acme has no offices or data centres: everyone works from home and all systems run in AWS, "
             "whose physical perimeters are covered by its ISO 27001 certificate (see A.5.19-A.5.22).",
    "A.7.2": "No premises of our own, so there are no entry points to control; AWS data-centre entry is "
             "assessed through the supplier's certification.",
    "A.7.3": "No offices, rooms or facilities are owned or rented by Acme.",
    "A.7.4": "No premises to monitor; physical monitoring of hosting sites is the cloud provider's duty.",
    "A.7.6": "Acme defines no secure areas: it has no buildings in which to set them up.",
    "A.7.11": "Power and other utilities for the hosted systems are provided and evidenced by AWS.",
    "A.7.12": "Acme owns no cabling; network cabling in the hosting sites belongs to AWS.",
}

OWNERS = {
    "A.5.1": ("implemented", "CISO"),
    "A.5.10": ("implemented", "CISO"),
    "A.6.3": ("implemented", "People team"),
    "A.8.5": ("partially", "Platform team"),
    "A.8.15": ("implemented", "Platform team"),
    "A.8.24": ("partially", "Platform team"),
}


def soa_text() -> str | None:
    """The starter SoA with the remote-company exclusions and a few owners filled in, if SoA support exists."""
    try:
        from agent.soa import starter_soa_text
    except ImportError:
        return None
    import re

    line = re.compile(r"^(  )(A\.\d+\.\d+): \{[^}]*\}(.*)$")
    out = []
    for text in starter_soa_text().splitlines():
        m = line.match(text)
        if m and m.group(2) in NOT_APPLICABLE:
            reason = NOT_APPLICABLE[m.group(2)].replace('"', "'")
            text = f'{m.group(1)}{m.group(2)}: {{applicable: false, justification: "{reason}"}}{m.group(3)}'
        elif m and m.group(2) in OWNERS:
            state, owner = OWNERS[m.group(2)]
            text = f'{m.group(1)}{m.group(2)}: {{applicable: true, implementation: {state}, owner: "{owner}"}}' \
                   f'{m.group(3)}'
        out.append(text)
    return "\n".join(out) + "\n"


def exceptions_text(today: date) -> str | None:
    """One risk acceptance, valid for 90 days from today, if risk-acceptance support is installed."""
    try:
        import agent.exceptions  # noqa: F401
    except ImportError:
        return None
    expires = (today + timedelta(days=90)).isoformat()
    return f"""\
# Risk acceptances: a failing check the organisation has knowingly accepted, with owner and expiry.
# While an acceptance is current, the fail findings it covers are reported as `excepted`.
exceptions:
  - id: RA-2025-014
    rule: aws.rds.instance_storage_encrypted
    resource: "arn:aws:rds:eu-west-1:*:db:legacy-reporting-db"
    justification: >-
      The legacy reporting database holds only aggregated figures with no personal or card data.
      It is being replaced by the warehouse project (DATA-412) and will be deleted before the expiry.
    owner: data-platform@acme.example
    approved_by: ciso@acme.example
    expires: {expires}
"""


def write_config(folder: Path, source: str, regions: list[str], today: date | None = None,
                 extra_sources: list[str] | None = None) -> Path:
    """Write annexa.yaml, plus soa.yaml and exceptions.yaml when those features are installed."""
    soa = soa_text()
    if soa is not None:
        (folder / SOA).write_text(soa, encoding="utf-8")
    exceptions = exceptions_text(today or datetime.now(UTC).date())
    if exceptions is not None:
        (folder / EXCEPTIONS).write_text(exceptions, encoding="utf-8")
    path = folder / CONFIG
    path.write_text(config_text(source, regions, soa=soa is not None, exceptions=exceptions is not None,
                                extra_sources=extra_sources), encoding="utf-8")
    return path
