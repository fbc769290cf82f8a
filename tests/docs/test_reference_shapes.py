"""The JSON documents and the bundle layout in docs/reference.md against what the commands really print.

One real pipeline (the test collector, the CLI through its entry point, a SQLite store) produces every
document the reference shows; each example's keys, nested keys included, must be exactly the keys
the command prints, and every file of a real export bundle must match a path of the documented
layout (and every documented path must occur).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SUPPORT
from tests.docs.markdown import sections
from tests.support.inproc import Outcome, run_annexa

TEXT = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
SECTIONS = sections(TEXT)
SCRUBBED = ("AWS_", "AZURE_", "GOOGLE_", "ANNEXA_", "GITHUB_", "OKTA_", "ARM_", "MSI_", "IDENTITY_")


def json_blocks(title: str) -> list[Any]:
    assert title in SECTIONS, f"docs/reference.md has no heading {title!r}"
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", SECTIONS[title], flags=re.S)]


def key_list(title: str) -> list[set[str]]:
    """Key sets written inline in a section, e.g. `{"id", "title", "provider"}`."""
    found = re.findall(r'`\{("[a-z_0-9]+"(?:,\s*"[a-z_0-9]+")*)\}`', SECTIONS[title])
    return [set(re.findall(r'"([a-z_0-9]+)"', group)) for group in found]


#: Objects keyed by data (source names, statuses, run ids, severities), not by a fixed set of fields.
DATA_KEYED = {"outcomes", "statuses", "runs", "sla_days"}


def same_shape(doc: Any, real: Any, where: str = "$") -> None:
    """Every object in the example has exactly the keys of the real document, at every depth shown."""
    if where.rsplit(".", 1)[-1] in DATA_KEYED and isinstance(doc, dict) and isinstance(real, dict):
        return
    if isinstance(doc, dict) and isinstance(real, dict):
        assert set(doc) == set(real), (f"{where}: documented {sorted(set(doc) - set(real))} not printed; "
                                       f"printed {sorted(set(real) - set(doc))} not documented")
        for key in doc:
            same_shape(doc[key], real[key], f"{where}.{key}")
    elif isinstance(doc, list) and isinstance(real, list) and doc and real:
        same_shape(doc[0], real[0], f"{where}[0]")


class Pipeline:
    """A configured folder with one run, manual evidence, an acceptance, an SoA and a signed bundle."""

    def __init__(self, folder: Path):
        self.folder = folder
        world = folder / "world.json"
        world.write_text(json.dumps({
            "resources": [
                {"type": "testkit.widget", "id": "w1", "name": "w1", "region": "eu-west-1",
                 "data": {"kind": "server", "encryption": {"enabled": True}, "rules": []}},
                {"type": "testkit.widget", "id": "w2", "name": "w2", "region": "eu-west-1",
                 "data": {"kind": "db", "encryption": {"enabled": False}}},
                {"type": "testkit.widget", "id": "w3", "name": "w3", "region": "eu-west-1",
                 "data": {"kind": "db", "encryption": {"enabled": False}}}],
            "fail": [{"type": "testkit.widget", "message": "AccessDenied", "region": "us-east-1"}]}))
        (folder / "exceptions.yaml").write_text(
            "exceptions:\n  - id: EX-1\n    rule: testkit.widget.encrypted\n    resource: w2\n"
            "    justification: Being replaced\n    owner: alice@acme.example\n"
            "    approved_by: ciso@acme.example\n    approved_on: 2026-01-05\n    expires: 2099-12-31\n")
        self.config = folder / "annexa.yaml"
        self.config.write_text(
            f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
            f"soa: soa.yaml\nexceptions: exceptions.yaml\nrules:\n  paths: [{SUPPORT / 'rules'}]\n"
            f"sources:\n  - name: kit\n    type: testkit\n    world: {world}\n")
        (folder / "policy.md").write_text("# Information security policy\n")
        self.check("soa", "init", "--out", str(folder / "soa.yaml"))
        self.run_doc = self.json("run", "--format", "json", expect=3)  # partial: one type was denied
        self.json("evidence", "add", "--control", "A.5.1", "--file", str(folder / "policy.md"),
                  "--valid-for", "1y", "--format", "json")
        self.check("export", "keygen", "--out", str(folder / "key.pem"))
        sample = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.bundle = folder / "bundle.zip"
        self.export_doc = self.json("export", "--out", str(self.bundle), "--sign-key", str(folder / "key.pem"),
                                    "--sample-date", sample, "--format", "json")

    def check(self, *args: str, expect: int = 0) -> Outcome:
        outcome = run_annexa("--config", str(self.config), *args)
        assert outcome.code == expect, (args, outcome.code, outcome.stdout[-2000:], outcome.stderr[-2000:])
        return outcome

    def json(self, *args: str, expect: int = 0) -> Any:
        return json.loads(self.check(*args, expect=expect).stdout)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    import tests.support.testkit  # noqa: F401  (registers the test collector in this process)

    with pytest.MonkeyPatch.context() as env:  # no store URL or credentials from the developer's shell
        for key in list(os.environ):
            if key.startswith(SCRUBBED):
                env.delenv(key)
        yield Pipeline(tmp_path_factory.mktemp("reference"))


def test_finding(pipeline: Pipeline) -> None:
    findings = pipeline.json("findings", "--format", "json")
    excepted = [f for f in findings if f["status"] == "excepted"]
    assert excepted and excepted[0]["exception"] == "EX-1"  # the world really has every kind of finding
    for finding in (excepted[0], next(f for f in findings if f["status"] == "error")):
        same_shape(json_blocks("Finding")[0], finding)


def test_control(pipeline: Pipeline) -> None:
    controls = pipeline.json("controls", "--format", "json")
    assert len(controls) == 93
    same_shape(json_blocks("Control")[0], controls[0])


def test_controls_show(pipeline: Pipeline) -> None:
    shown = pipeline.json("controls", "show", "A.8.24", "--format", "json")
    text = SECTIONS["`annexa controls show --format json`"]
    base = set(json_blocks("Control")[0])
    for key in set(shown) - base:
        assert f"`{key}`" in text, f"controls show prints {key!r}, which the reference does not name"
    assert base <= set(shown)
    detail = re.search(r"`guidance_detail` \(([^)]*)\)", text)
    assert detail and set(re.findall(r"`([a-z_]+)`", detail.group(1))) == set(shown["guidance_detail"])
    results = re.search(r"`rule_results` \(`\[\{([^}]*)\}\]`\)", text)
    assert results and {k.strip() for k in results.group(1).split(",")} == set(shown["rule_results"][0])


def test_coverage(pipeline: Pipeline) -> None:
    same_shape(json_blocks("`annexa controls --coverage --format json`")[0],
               pipeline.json("controls", "--coverage", "--format", "json"))


def test_runs(pipeline: Pipeline) -> None:
    same_shape(json_blocks("`annexa runs --format json`")[0], pipeline.json("runs", "--format", "json"))


def test_run_summary(pipeline: Pipeline) -> None:
    assert pipeline.run_doc["errors"], "the run was meant to have a collection error"
    same_shape(json_blocks("`annexa run --format json`")[0], pipeline.run_doc)


def test_rules_evidence_and_exceptions_lists(pipeline: Pipeline) -> None:
    for title, args in (("`annexa rules list --format json`", ("rules", "list")),
                        ("`annexa evidence list --format json`", ("evidence", "list")),
                        ("`annexa exceptions list --format json`", ("exceptions", "list"))):
        rows = pipeline.json(*args, "--format", "json")
        assert rows, title
        assert set(rows[0]) == key_list(title)[0], title


def test_verify(pipeline: Pipeline) -> None:
    bundle = pipeline.json("verify", str(pipeline.bundle), "--public-key", str(pipeline.folder / "key.pub.pem"),
                           "--format", "json")
    assert bundle["ok"] and bundle["signature"] == "valid"
    same_shape(json_blocks("`annexa verify --format json`")[0], bundle)
    store = pipeline.json("verify", "--store", "--format", "json")
    assert set(store) == key_list("`annexa verify --format json`")[-1]


def test_export_summary(pipeline: Pipeline) -> None:
    same_shape(json_blocks("`annexa export --format json`")[0], pipeline.export_doc)


def test_run_manifest(pipeline: Pipeline) -> None:
    from agent.config import load_config
    from agent.store.store import EvidenceStore

    cfg = load_config(pipeline.config)
    store = EvidenceStore.open(cfg.store_url, cfg.evidence_dir)
    try:
        manifest = store.runs(1)[0]["manifest"]
    finally:
        store.close()
    assert manifest["sources"][0]["errors"]
    same_shape(json_blocks("The run manifest")[0], manifest)


def test_evidence_events_in_the_chain(pipeline: Pipeline) -> None:
    from sqlalchemy import select

    from agent.config import load_config
    from agent.store.schema import runs
    from agent.store.store import EvidenceStore

    cfg = load_config(pipeline.config)
    store = EvidenceStore.open(cfg.store_url, cfg.evidence_dir)
    try:
        with store.engine.connect() as conn:
            event = conn.execute(select(runs.c.manifest).where(runs.c.kind == "evidence")).scalar_one()
    finally:
        store.close()
    row = re.search(r"^\| `" + re.escape(event["kind"]) + r"` \|[^|]*\|([^|]*)\|$", SECTIONS["Other chain entries"],
                    flags=re.M)
    assert row, f"{event['kind']} is not in the table of other chain entries"
    common = set(json_blocks("The run manifest")[0]) - {"policy_inputs", "rule_digests", "reused_verdicts"}
    assert common <= set(event)
    assert set(event) - common == set(re.findall(r"`([a-z_]+)`", row.group(1))) - {"add", "remove"}


def test_bundle_manifest(pipeline: Pipeline) -> None:
    with zipfile.ZipFile(pipeline.bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["signature"] and manifest["samples"]
    same_shape(json_blocks("`manifest.json`")[0], manifest)


# -- bundle layout -----------------------------------------------------------------------------
def layout_patterns() -> dict[str, re.Pattern[str]]:
    """{documented path: regex} from the layout block of "The export bundle"."""
    block = re.search(r"```\n(.*?)```", SECTIONS["The export bundle"], flags=re.S)
    assert block, "no layout block under 'The export bundle'"
    out: dict[str, re.Pattern[str]] = {}
    for line in block.group(1).splitlines():
        spec = re.split(r"\s{2,}", line.strip())[0]
        names = [n.strip() for n in spec.split(", ")]
        folder = names[0].rsplit("/", 1)[0] + "/" if "/" in names[0] else ""
        for name in names:
            path = name if "/" in name or not folder else folder + name
            regex = re.escape(path)
            regex = re.sub(r"\\\[(.*?)\\\]", r"(?:\1)?", regex)  # [-<n>]: optional part
            regex = re.sub(r"<[^>]*>", "[^/]+", regex)  # <id>, <sha256>, <file>: one path segment
            out[path] = re.compile(regex + r"\Z")
    return out


def test_the_layout_block_is_parsed() -> None:
    patterns = layout_patterns()
    assert {"manifest.json", "SHA256SUMS", "controls/<id>/findings.csv", "oscal/assessment-results.json"} <= set(
        patterns)
    assert not any(p.match("nothing/documented.txt") for p in patterns.values())


def test_every_bundle_file_is_documented_and_every_documented_path_occurs(pipeline: Pipeline) -> None:
    patterns = layout_patterns()
    with zipfile.ZipFile(pipeline.bundle) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    undocumented = [n for n in names if not any(p.match(n) for p in patterns.values())]
    assert not undocumented, f"files in the bundle that the layout does not show: {undocumented[:10]}"
    unseen = [doc for doc, p in patterns.items() if not any(p.match(n) for n in names)]
    assert not unseen, f"documented paths that this bundle does not contain: {unseen}"


def test_layout_block_has_no_stray_lines() -> None:
    block = re.search(r"```\n(.*?)```", SECTIONS["The export bundle"], flags=re.S)
    assert block
    for line in block.group(1).splitlines():
        assert re.match(r"^\S+(?:, \S+)*\s{2,}\S", line), f"layout line without path and description: {line!r}"
