"""`annexa soa validate` on a versioned SoA and `annexa exceptions` with approval and revocation dates."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from agent.catalogue import load_catalogue
from tests.agent.cli.test_workflow_cli import annexa, one_line_error
from tests.conftest import World, write_config


def versioned_soa(skip: str | None = None, drop_field: tuple[str, str] | None = None, head: str | None = None) -> str:
    lines = [head if head is not None else 'version: "2026.1"\napproved_by: ciso@acme.example\napproved_on: 2026-01-15',
             "controls:"]
    for c in load_catalogue().controls:
        if c.id == skip:
            continue
        fields = {"applicable": "true", "implementation": "implemented", "owner": '"ISMS team"',
                  "justification": '"Treats risk R-1"'}
        if drop_field and drop_field[0] == c.id:
            fields.pop(drop_field[1])
        lines.append(f"  {c.id}: {{{', '.join(f'{k}: {v}' for k, v in fields.items())}}}")
    return "\n".join(lines) + "\n"


def line_of(text: str, prefix: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(prefix))


def test_versioned_soa_is_validated_as_a_record(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world, extra="soa: soa.yaml\n")
    soa = tmp_path / "soa.yaml"
    soa.write_text(versioned_soa())
    out = annexa(cfg, "soa", "validate")
    assert out.returncode == 0, out.stderr
    assert "version 2026.1, approved by ciso@acme.example on 2026-01-15" in out.stdout and not out.stderr

    text = versioned_soa(drop_field=("A.5.9", "owner"))
    soa.write_text(text)
    message = one_line_error(annexa(cfg, "soa", "validate"))
    assert f"soa.yaml:{line_of(text, '  A.5.9:')}: controls.A.5.9.owner" in message

    text = versioned_soa(drop_field=("A.8.2", "justification"))
    soa.write_text(text)
    message = one_line_error(annexa(cfg, "soa", "validate"))
    assert f"soa.yaml:{line_of(text, '  A.8.2:')}: controls.A.8.2.justification" in message
    assert "why it is included" in message

    text = versioned_soa(head='version: "2026.1"\napproved_on: 2026-01-15')
    soa.write_text(text)
    assert "approved_by" in one_line_error(annexa(cfg, "soa", "validate"))

    text = versioned_soa(head='version: "2"\napproved_by: x\napproved_on: someday')
    soa.write_text(text)
    message = one_line_error(annexa(cfg, "soa", "validate"))
    assert "soa.yaml:3: approved_on" in message

    text = versioned_soa(skip="A.6.3")
    soa.write_text(text)
    message = one_line_error(annexa(cfg, "soa", "validate"))
    assert f"soa.yaml:{line_of(text, 'controls:')}: controls.A.6.3" in message and "every Annex A control" in message


def test_unversioned_soa_still_loads_with_warnings(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world, extra="soa: soa.yaml\n")
    (tmp_path / "soa.yaml").write_text("controls:\n  A.5.1: {applicable: true, owner: CISO}\n")
    out = annexa(cfg, "soa", "validate")
    assert out.returncode == 0 and "unversioned" in out.stdout
    assert "warning: no version" in out.stderr and "93 applicable control(s) have no justification" in out.stderr
    assert "92 applicable control(s) have no owner" in out.stderr


EXCEPTIONS = """exceptions:
  - id: RA-1
    rule: testkit.widget.encrypted
    justification: Legacy widget
    owner: alice@acme.com
    approved_by: ciso@acme.com
    approved_on: {approved}
    expires: 2099-12-31
{extra}"""


def test_exception_approval_and_revocation_dates(tmp_path: Path, world: World) -> None:
    world.add("testkit.widget", "w1", {"encryption": {"enabled": False}})
    cfg = write_config(tmp_path, world, extra="exceptions: exceptions.yaml\n")
    path = tmp_path / "exceptions.yaml"
    path.write_text(EXCEPTIONS.format(approved="2026-01-10", extra="    revoked_on: 2026-03-01\n"
                                                                   "    revoked_reason: Widget replaced\n"))
    out = annexa(cfg, "exceptions", "validate", now="2026-06-01T00:00:00Z")
    assert out.returncode == 0 and "0 active" in out.stdout and "revoked, no longer applied: RA-1" in out.stderr
    listed = list(csv.DictReader(io.StringIO(annexa(cfg, "exceptions", "list", "--format", "csv",
                                                     now="2026-06-01T00:00:00Z").stdout)))
    assert listed[0]["state"] == "revoked" and listed[0]["approved_on"] == "2026-01-10"
    assert listed[0]["revoked_reason"] == "Widget replaced"
    # before the revocation it still applies
    assert "1 active" in annexa(cfg, "exceptions", "validate", now="2026-02-01T00:00:00Z").stdout
    # a revoked acceptance no longer turns the failure into `excepted`
    assert annexa(cfg, "run", "--quiet", now="2026-06-01T00:00:00Z").returncode == 0
    findings = annexa(cfg, "findings", "--format", "csv", now="2026-06-01T00:00:00Z").stdout
    assert "excepted" not in findings and "fail" in findings

    for approved, extra, field in (("soon", "", "exceptions[0].approved_on"),
                                   ("2100-01-01", "", "exceptions[0].approved_on"),
                                   ("2026-01-10", "    revoked_on: 2025-12-01\n", "exceptions[0].revoked_on"),
                                   ("2026-01-10", "    revoked_reason: because\n", "exceptions[0].revoked_on")):
        path.write_text(EXCEPTIONS.format(approved=approved, extra=extra))
        message = one_line_error(annexa(cfg, "exceptions", "validate"))
        assert "exceptions.yaml:" in message and field in message, message


def test_exceptions_without_approval_date_stay_valid_with_a_warning(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world, extra="exceptions: exceptions.yaml\n")
    (tmp_path / "exceptions.yaml").write_text(EXCEPTIONS.replace("    approved_on: {approved}\n", "").format(extra=""))
    out = annexa(cfg, "exceptions", "validate")
    assert out.returncode == 0 and "1 active" in out.stdout
    assert "warning: no approved_on" in out.stderr and "RA-1" in out.stderr
