"""docs/operations.md stays honest: the metrics it names exist, every shipped alert is listed, and it
links nowhere outside the repository."""

from __future__ import annotations

import re

import yaml

from tests.deploy.deploy_paths import DEPLOY

ROOT = DEPLOY.parent
DOC = ROOT / "docs" / "operations.md"
METRIC = re.compile(r"\bannexa_[a-z0-9_]+[a-z0-9]\b")


def published_names() -> set[str]:
    """Every metric name the code publishes (exporter, Pushgateway, daemon), with counters' `_total`."""
    names: set[str] = set()
    for path in [*(ROOT / "agent" / "metrics").glob("*.py"), ROOT / "agent" / "daemon.py"]:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'"(annexa_[a-z0-9_]+)"', text))
        for counter in re.findall(r'(?:CounterMetricFamily|Counter)\(\s*"(annexa_[a-z0-9_]+)"', text):
            names.add(f"{counter}_total")
    return names


def test_every_metric_in_the_doc_is_published() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(METRIC.findall(text)) - {"annexa_no_such_series"}
    known = published_names()
    assert "annexa_source_outcome" in known and "annexa_source_runs_total" in known  # the scan sees the code
    assert named - known == set(), "docs/operations.md names metrics nothing publishes"


def test_every_exporter_health_metric_and_alert_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert {a for a in alerts if f"`{a}`" not in text} == set()
    health = {n for n in published_names() if n.startswith(("annexa_source_", "annexa_store_verify"))}
    health -= {"annexa_source_errors", "annexa_source_runs"}  # published with their `_total` suffix
    assert {n for n in health if f"`{n}`" not in text} == set()
    for topic in ("## Source health", "### Expected gaps", "expected_gaps:", "## Scheduled store verification",
                  "## One store for every pod"):
        assert topic in text


def test_no_link_leaves_the_repository() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert re.findall(r"\]\((?:https?:|//|\.\./\.\.)", text) == []
    for target in re.findall(r"\]\(([^)#]+)", text):
        assert (DOC.parent / target).resolve().is_relative_to(ROOT), target
        assert (DOC.parent / target).exists(), target
    # Examples may use loopback addresses; nothing else is a URL a reader could be sent to.
    assert re.findall(r"https?://(?!127\.0\.0\.1|localhost)[^\s`)]+", text) == []
