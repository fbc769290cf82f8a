"""`annexa export` and `annexa verify FILE.zip` through the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.agent.export.conftest import History, flip, read, rewrite
from tests.conftest import ROOT

ANNEXA = shutil.which("annexa") or "annexa"


def annexa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit", **(env or {})}
    return subprocess.run([ANNEXA, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=120)


def main(*args: str) -> subprocess.CompletedProcess[str]:
    """The same CLI in-process (cheaper than a subprocess for the error paths)."""
    import contextlib
    import io

    from agent.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli_main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_export_sign_and_verify_end_to_end(history: History, tmp_path: Path) -> None:
    key = tmp_path / "bundle-key.pem"
    keygen = annexa("export", "keygen", "--out", str(key))
    assert keygen.returncode == 0, keygen.stderr
    public = Path(keygen.stdout.strip())
    assert public == tmp_path / "bundle-key.pub.pem" and public.is_file()
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in key.read_bytes() and b"PUBLIC KEY" in public.read_bytes()

    out = tmp_path / "audit.zip"
    proc = annexa("--config", str(history.config), "export", "--out", str(out), "--sign-key", str(key),
                  "--format", "json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["signed"] is True and summary["runs"] == 3 and len(summary["controls"]) == 91
    assert summary["excluded_controls"] == ["A.7.4", "A.8.22"]

    ok = annexa("verify", str(out), "--public-key", str(public))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"bundle OK: {out}: ") and "signature: valid" in ok.stdout
    unchecked = annexa("verify", str(out), "--format", "json")
    doc = json.loads(unchecked.stdout)
    # a signed bundle checked without its key is not "verified": exit 2 unless the skip is explicit
    assert unchecked.returncode == 2 and doc["ok"] is False and doc["signature"] == "unchecked"
    assert doc["hashes_ok"] is True and "--public-key" in doc["error"]
    skipped = annexa("verify", str(out), "--skip-signature")
    assert skipped.returncode == 0, skipped.stderr
    assert "signature: present but NOT checked (--skip-signature)" in skipped.stdout

    name = "controls/A.8.24/findings.csv"
    bad = rewrite(out, tmp_path / "bad.zip", change={name: flip(read(out, name), 5)})
    failed = annexa("verify", str(bad))
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[0] == (f"bundle verification FAILED: {name}: content does not match its "
                                             "SHA-256 in manifest.json")


def test_signing_key_from_the_config_environment_variable(history: History, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.export.signing import write_keypair

    key = tmp_path / "k.pem"
    public = write_keypair(key)
    config = tmp_path / "annexa.yaml"
    config.write_text(history.config.read_text().replace("soa: soa.yaml", f"soa: {history.folder / 'soa.yaml'}")
                      .replace("exceptions: exceptions.yaml", f"exceptions: {history.folder / 'exceptions.yaml'}")
                      + "export:\n  signing_key_env: AUDIT_SIGNING_KEY\n")
    out = tmp_path / "env.zip"
    missing = main("--config", str(config), "export", "--out", str(out), "--control", "A.8.24")
    assert "AUDIT_SIGNING_KEY is not set" in one_line_error(missing) and not out.exists()
    monkeypatch.setenv("AUDIT_SIGNING_KEY", key.read_text())
    proc = main("--config", str(config), "export", "--out", str(out), "--control", "A.8.24")
    assert proc.returncode == 0, proc.stderr
    assert "signed (key fingerprint" in proc.stdout
    with zipfile.ZipFile(out) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist())
    assert b"PRIVATE KEY" not in blob and key.read_bytes().split(b"\n")[1] not in blob
    assert main("verify", str(out), "--public-key", str(public)).returncode == 0

    monkeypatch.delenv("AUDIT_SIGNING_KEY")  # export.signing_key (a path relative to the config) wins
    config.write_text(config.read_text().replace("signing_key_env: AUDIT_SIGNING_KEY", "signing_key: k.pem"))
    again = main("--config", str(config), "export", "--out", str(out), "--control", "A.8.24", "--force")
    assert again.returncode == 0, again.stderr
    assert main("verify", str(out), "--public-key", str(public)).returncode == 0


def test_period_without_data_exits_2_and_leaves_no_file(history: History, tmp_path: Path) -> None:
    out = tmp_path / "empty.zip"
    proc = main("--config", str(history.config), "export", "--out", str(out), "--from", "2001-01-01",
                  "--to", "2001-12-31")
    line = one_line_error(proc)
    assert "nothing to export in the period 2001-01-01T00:00:00.000000Z to 2001-12-31T23:59:59.999999Z" in line
    assert "no bundle was written" in line
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_one_line_exit_2(history: History, tmp_path: Path) -> None:
    cfg = str(history.config)
    out = str(tmp_path / "x.zip")
    assert "--from" in one_line_error(main("--config", cfg, "export", "--out", out, "--from", "last tuesday"))
    assert "must be before --to" in one_line_error(
        main("--config", cfg, "export", "--out", out, "--from", "2026-02-01", "--to", "2026-01-01"))
    assert "--control" in one_line_error(main("--config", cfg, "export", "--out", out, "--control", "A.9.99"))
    (tmp_path / "notes.zip").write_text("not a zip")
    assert "not a zip file" in one_line_error(main("verify", str(tmp_path / "notes.zip")))
    assert list(p.name for p in tmp_path.iterdir()) == ["notes.zip"]
