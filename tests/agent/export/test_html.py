"""index.html opens offline: rendered in headless Chromium with networking disabled, and checked statically."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.agent.export.conftest import HOSTILE_NAME, NOT_APPLICABLE
from tests.conftest import ROOT

EXTERNAL = [
    re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.IGNORECASE),
    re.compile(r"""url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.IGNORECASE),
    re.compile(r"""(?:src|href|url\()\s*=?\s*["']?\s*https?:""", re.IGNORECASE),
    re.compile(r"@import", re.IGNORECASE),
    re.compile(r"<(?:link|iframe|object|embed|base)\b", re.IGNORECASE),
    re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE),
]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--no-proxy-server",
                  '--host-resolver-rules=MAP * ~NOTFOUND']


class Rows(HTMLParser):
    """data-control of the rows of one table (by id), from the rendered DOM."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.depth += 1 if (self.depth or a.get("id") == self.table_id) else 0
        elif tag == "tr" and self.depth and a.get("data-control"):
            self.ids.append(a["data-control"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1


def table_ids(dom: str, table_id: str) -> list[str]:
    parser = Rows(table_id)
    parser.feed(dom)
    return parser.ids


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed here (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="module")
def unzipped(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    return folder


def html_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


def test_no_page_references_anything_outside_the_bundle(unzipped: Path) -> None:
    pages = html_files(unzipped)
    assert len([p for p in pages if p.name in ("timeline.html", "snapshots.html")]) == 2 * 91  # sampling pages
    controls = [p for p in pages if p.parent.parent.name == "controls" and p.name == "index.html"]
    assert len(controls) == 91  # one per applicable control
    top = {p.name for p in pages if p.parent == unzipped}
    assert {"index.html", "policy.html", "soa-versions.html", "exceptions.html"} <= top
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for pattern in EXTERNAL:
            assert not pattern.search(text), f"{page.relative_to(unzipped)}: {pattern.pattern}"
        for link in re.findall(r'(?:href|src)="([^"]*)"', text):
            if link.startswith("#"):
                continue
            target = (page.parent / link.partition("#")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(unzipped)} links to missing {link}"
            assert unzipped.resolve() in target.parents


def test_third_party_text_is_escaped(unzipped: Path) -> None:
    page = (unzipped / "controls" / "A.8.24" / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co" in page
    assert "RA-7" in page and '<span class="badge s-excepted">excepted</span>' in page  # the risk acceptance
    index = (unzipped / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    for p in html_files(unzipped):
        text = p.read_text(encoding="utf-8")
        assert HOSTILE_NAME not in text and "<img" not in text and "<script>alert" not in text
        assert "<i>approved</i>" not in text


def test_index_renders_in_chromium_offline(unzipped: Path, bundle: Path, tmp_path: Path) -> None:
    binary = chromium()
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "export-index.png"
    shot.unlink(missing_ok=True)
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
         f"--screenshot={shot}", "--dump-dom", (unzipped / "index.html").as_uri()],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = result.stdout
    with zipfile.ZipFile(bundle) as zf:
        import json

        applicable = json.loads(zf.read("manifest.json"))["controls"]
    rows = table_ids(dom, "controls")
    assert rows == applicable and len(rows) == 91
    assert not set(rows) & set(NOT_APPLICABLE)
    assert set(table_ids(dom, "exclusions-table")) == set(NOT_APPLICABLE)
    assert "One flat network; nothing to segregate" in dom
    assert 'data-control="A.8.24" data-status="failing"' in dom
    assert "<img" not in dom  # the hostile resource name stayed text


def test_control_pages_carry_the_full_guidance(unzipped: Path) -> None:
    import html as html_lib

    from agent.catalogue import load_catalogue

    control = load_catalogue().get("A.8.24")
    page = html_lib.unescape((unzipped / "controls" / "A.8.24" / "index.html").read_text(encoding="utf-8"))
    for part in (control.guidance.purpose, control.guidance.implementation, control.guidance.evidence,
                 control.guidance.automation):
        assert part and part in page
