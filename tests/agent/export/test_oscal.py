"""oscal/assessment-results.json validates against the OSCAL 1.1 models of compliance-trestle."""

from __future__ import annotations

import json
import os
import re
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.agent.export.conftest import NOT_APPLICABLE

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def trestle_results() -> Any:
    try:
        from trestle.oscal import OSCAL_VERSION
        from trestle.oscal.assessment_results import AssessmentResults
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("compliance-trestle is required in CI (dev extra)")
        pytest.skip("compliance-trestle is not installed here: pip install 'compliance-trestle>=3.12,<4'")
    assert OSCAL_VERSION.startswith("1.1."), f"trestle models OSCAL {OSCAL_VERSION}, the bundle promises 1.1"
    return AssessmentResults


def validate(document: dict[str, Any]) -> Any:
    model = trestle_results()
    parse = getattr(model, "parse_obj", None) or model.model_validate
    return parse(document["assessment-results"])


@pytest.fixture(scope="module")
def oscal(bundle: Path) -> dict[str, Any]:
    with zipfile.ZipFile(bundle) as zf:
        return json.loads(zf.read("oscal/assessment-results.json"))


def test_validates_against_the_oscal_schema_models(oscal: dict[str, Any]) -> None:
    parsed = validate(oscal)
    assert len(parsed.results) == 1
    assert oscal["assessment-results"]["metadata"]["oscal-version"].startswith("1.1.")


def test_the_validator_really_rejects_broken_documents(oscal: dict[str, Any]) -> None:
    import copy

    broken = copy.deepcopy(oscal)
    del broken["assessment-results"]["import-ap"]
    with pytest.raises(Exception, match="import"):
        validate(broken)
    broken = copy.deepcopy(oscal)
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "mostly-fine"
    with pytest.raises(Exception, match="state"):
        validate(broken)
    broken = copy.deepcopy(oscal)
    broken["assessment-results"]["results"][0]["uuid"] = "not-a-uuid"
    with pytest.raises(Exception, match="uuid"):
        validate(broken)


def test_findings_and_observations_map_controls_and_evidence(oscal: dict[str, Any], bundle: Path) -> None:
    doc = oscal["assessment-results"]
    result = doc["results"][0]
    selected = [c["control-id"] for c in result["reviewed-controls"]["control-selections"][0]["include-controls"]]
    assert len(selected) == 91 and not set(selected) & set(NOT_APPLICABLE)
    by_target = {f["target"]["target-id"]: f for f in result["findings"]}
    assert set(by_target) == {f"{cid}_obj" for cid in selected}
    assert by_target["A.8.24_obj"]["target"]["status"]["state"] == "not-satisfied"
    # run 3 could not collect widgets in r9: errors are never "satisfied"
    assert by_target["A.8.20_obj"]["target"]["status"] == {
        "state": "not-satisfied", "reason": "other", "remarks": by_target["A.8.20_obj"]["target"]["status"]["remarks"]}
    assert by_target["A.5.1_obj"]["target"]["status"]["state"] == "satisfied"  # documents
    assert all(f["target"]["type"] == "objective-id" for f in result["findings"])
    observations = {o["uuid"]: o for o in result["observations"]}
    a824 = [observations[r["observation-uuid"]] for r in by_target["A.8.24_obj"]["related-observations"]]
    assert all(o["methods"] == ["TEST"] for o in a824)  # OSCAL's values only (no AUTOMATED)
    assert a824[0]["subjects"][0]["type"] == "component"  # the per-control summary
    assert all(o["subjects"][0]["type"] == "inventory-item" for o in a824[1:]) and len(a824) > 1
    docs = [observations[r["observation-uuid"]] for r in by_target["A.5.1_obj"]["related-observations"]]
    assert [o["methods"] for o in docs] == [["EXAMINE"]]
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
    hrefs = [e["href"] for o in result["observations"] for e in o.get("relevant-evidence", [])]
    assert hrefs and all(h in names for h in hrefs)
    assert "controls/A.5.1/manual/policy_v1.pdf" in hrefs
    resources = {r["uuid"] for r in doc["back-matter"]["resources"]}
    assert doc["import-ap"]["href"].removeprefix("#") in resources


def test_uuids_are_v4_or_v5_and_timestamps_carry_a_zone(oscal: dict[str, Any]) -> None:
    found_uuids: list[str] = []
    found_times: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif key in ("uuid", "observation-uuid", "subject-uuid", "actor-uuid"):
            found_uuids.append(node)
        elif key in ("start", "end", "collected", "last-modified"):
            found_times.append(node)

    walk(oscal)
    assert len(found_uuids) > 100 and all(UUID4.match(u) and uuid.UUID(u).version in (4, 5) for u in found_uuids)
    assert found_times and all(datetime.fromisoformat(t.replace("Z", "+00:00")).tzinfo for t in found_times)
