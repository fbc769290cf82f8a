"""Tests of the shipped control catalogue (mappings/*.yaml) and its loader (agent.catalogue)."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

import pytest
import yaml

from agent.catalogue import (
    ATTRIBUTE_VOCABULARY,
    EVIDENCE_MODES,
    THEMES,
    Catalogue,
    CatalogueDataError,
    Control,
    UnknownControlError,
    load_catalogue,
    normalise_control_id,
    parse_catalogue,
)


def _ids(spec: str) -> list[str]:
    """A list of control ids from a space-separated string."""
    return spec.split()


NEW_IN_2022 = set(_ids("A.5.7 A.5.23 A.5.30 A.7.4 A.8.9 A.8.10 A.8.11 A.8.12 A.8.16 A.8.23 A.8.28"))
FAMILIES = (
    "control_type",
    "security_properties",
    "cybersecurity_concepts",
    "operational_capabilities",
    "security_domains",
)


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def _key(control_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in control_id[2:].split("."))


def _raw(name: str) -> str:
    return resources.files("mappings").joinpath(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- the 93 controls


def test_exactly_93_controls_with_unique_ids(cat: Catalogue) -> None:
    ids = [c.id for c in cat.controls]
    assert len(ids) == 93
    assert len(set(ids)) == 93
    assert len(cat) == 93


def test_theme_counts(cat: Catalogue) -> None:
    counts = Counter(c.theme for c in cat.controls)
    assert counts == {"Organizational": 37, "People": 8, "Physical": 14, "Technological": 34}
    assert tuple(THEMES) == ("Organizational", "People", "Physical", "Technological")


def test_ids_are_contiguous_per_clause_and_match_theme(cat: Catalogue) -> None:
    expected = [f"A.5.{n}" for n in range(1, 38)] + [f"A.6.{n}" for n in range(1, 9)]
    expected += [f"A.7.{n}" for n in range(1, 15)] + [f"A.8.{n}" for n in range(1, 35)]
    assert [c.id for c in cat.controls] == expected
    clause_theme = dict(zip((5, 6, 7, 8), THEMES, strict=True))
    for c in cat.controls:
        assert c.theme == clause_theme[_key(c.id)[0]], c.id


def test_controls_in_numeric_order_in_file_and_catalogue(cat: Catalogue) -> None:
    raw_ids = [e["id"] for e in yaml.safe_load(_raw("controls.yaml"))]
    assert raw_ids == sorted(raw_ids, key=_key)
    assert [c.id for c in cat.controls] == sorted((c.id for c in cat.controls), key=_key)


def test_exactly_the_eleven_new_controls(cat: Catalogue) -> None:
    assert {c.id for c in cat.controls if c.new_in_2022} == NEW_IN_2022


def test_attribute_tags_come_from_the_vocabulary(cat: Catalogue) -> None:
    assert tuple(ATTRIBUTE_VOCABULARY) == FAMILIES
    for c in cat.controls:
        assert tuple(c.attributes) == FAMILIES, c.id
        for family, tags in c.attributes.items():
            assert tags, f"{c.id} has no {family} tag"
            assert len(set(tags)) == len(tags), f"{c.id} repeats a {family} tag"
            assert set(tags) <= set(ATTRIBUTE_VOCABULARY[family]), (c.id, family, tags)


def test_every_vocabulary_tag_is_used_somewhere(cat: Catalogue) -> None:
    for family, allowed in ATTRIBUTE_VOCABULARY.items():
        used = {t for c in cat.controls for t in c.attributes[family]}
        assert used == set(allowed), (family, set(allowed) - used)


def test_titles_are_non_empty_and_unique(cat: Catalogue) -> None:
    titles = [c.title for c in cat.controls]
    assert all(t and t == t.strip() for t in titles)
    assert len(set(titles)) == 93


def test_guidance_is_complete_and_evidence_mode_valid(cat: Catalogue) -> None:
    assert EVIDENCE_MODES == ("automated", "partly automated", "manual")
    for c in cat.controls:
        g = c.guidance
        for part in (g.purpose, g.implementation, g.evidence, g.automation):
            assert isinstance(part, str) and len(part.strip()) > 20, c.id
        assert c.evidence_mode in EVIDENCE_MODES, c.id
        assert c.evidence_sources and all(s.strip() for s in c.evidence_sources), c.id
        assert c.guidance_text() == f"{g.purpose} {g.implementation}"


def test_automation_text_agrees_with_evidence_mode(cat: Catalogue) -> None:
    prefix = {"automated": "Automated", "partly automated": "Partly automated", "manual": "Manual"}
    for c in cat.controls:
        assert c.guidance.automation.startswith(prefix[c.evidence_mode]), c.id


def test_manual_controls_name_manual_sources(cat: Catalogue) -> None:
    for c in cat.controls:
        collectable = [s for s in c.evidence_sources if "(manual upload)" not in s]
        if c.evidence_mode == "manual":
            assert not collectable, (c.id, collectable)
        else:
            assert collectable, f"{c.id} is {c.evidence_mode} but names no collectable source"


def test_automated_controls_named_in_the_design_are_not_manual(cat: Catalogue) -> None:
    ids = _ids(
        "A.5.15 A.5.16 A.5.17 A.5.18 A.5.23 A.6.1 A.6.5 A.8.2 A.8.3 A.8.4 A.8.5 A.8.7 A.8.8 A.8.9 A.8.12 "
        "A.8.13 A.8.14 A.8.15 A.8.16 A.8.20 A.8.21 A.8.22 A.8.23 A.8.24 A.8.25 A.8.26 A.8.32"
    )
    assert all(cat.get(i).evidence_mode != "manual" for i in ids)
    for physical in cat.by_theme("Physical"):
        assert physical.evidence_mode == "manual", physical.id


def test_guidance_guard_length_and_uniqueness(cat: Catalogue) -> None:
    texts = []
    for c in cat.controls:
        g = c.guidance
        for part in (g.purpose, g.implementation, g.evidence, g.automation):
            assert len(part) <= 600, c.id
        assert len(c.guidance_text()) <= 650, c.id
        texts.append(c.guidance_text())
    assert len(set(texts)) == len(texts)
    for part in ("purpose", "implementation", "evidence"):
        values = [getattr(c.guidance, part) for c in cat.controls]
        assert len(set(values)) == len(values), part


def test_guidance_avoids_normative_standard_phrasing(cat: Catalogue) -> None:
    # ISO control text is written as "... should be ..." / "... shall be ..."; our text is not.
    for c in cat.controls:
        assert not re.search(r"\b(shall|should) be\b", c.guidance_text()), c.id


# ---------------------------------------------------------------- the 2013 correspondence


def test_exactly_114_legacy_controls_covering_a5_to_a18(cat: Catalogue) -> None:
    ids = [c.id for c in cat.legacy]
    assert len(ids) == 114
    assert len(set(ids)) == 114
    per_clause = Counter(_key(i)[0] for i in ids)
    sizes = (2, 7, 6, 10, 14, 2, 15, 14, 7, 13, 5, 7, 4, 8)  # A.5 .. A.18
    assert per_clause == dict(zip(range(5, 19), sizes, strict=True))
    assert all(c.title for c in cat.legacy)


def test_legacy_controls_map_only_to_existing_2022_controls(cat: Catalogue) -> None:
    for legacy in cat.legacy:
        assert legacy.maps_to, legacy.id
        for target in legacy.maps_to:
            assert target in cat, (legacy.id, target)


def test_every_2022_control_is_reached_or_new(cat: Catalogue) -> None:
    reached = {t for legacy in cat.legacy for t in legacy.maps_to}
    for c in cat.controls:
        assert (c.id in reached) != c.new_in_2022, c.id
        assert bool(c.iso27001_2013) == (c.id in reached), c.id


def test_reverse_mapping_is_consistent(cat: Catalogue) -> None:
    for c in cat.controls:
        for legacy_id in c.iso27001_2013:
            legacy = cat.legacy_control(legacy_id)
            assert legacy is not None and c.id in legacy.maps_to


# ---------------------------------------------------------------- known facts


@pytest.mark.parametrize(
    ("cid", "title"),
    [
        ("A.5.1", "Policies for information security"),
        ("A.5.23", "Information security for use of cloud services"),
        ("A.6.3", "Information security awareness, education and training"),
        ("A.7.7", "Clear desk and clear screen"),
        ("A.8.5", "Secure authentication"),
        ("A.8.20", "Networks security"),
        ("A.8.34", "Protection of information systems during audit testing"),
    ],
)
def test_known_titles(cat: Catalogue, cid: str, title: str) -> None:
    assert cat.get(cid).title == title


def test_known_facts(cat: Catalogue) -> None:
    assert cat.resolve("A.9.4.2") == ("A.8.5",)
    assert cat.get("A.8.5").iso27001_2013 == ("A.9.4.2",)
    assert cat.get("A.5.23").new_in_2022 is True
    assert cat.get("A.5.23").iso27001_2013 == ()
    assert cat.resolve("A.18.2.3") == ("A.5.36", "A.8.8")
    assert cat.get("A.7.10").iso27001_2013 == ("A.8.3.1", "A.8.3.2", "A.8.3.3", "A.11.2.5")
    assert cat.legacy_control("A.9.4.2").title == "Secure log-on procedures"
    a85 = cat.get("A.8.5").attributes
    assert a85["control_type"] == ("Preventive",)
    assert a85["security_properties"] == ("Confidentiality", "Integrity", "Availability")
    assert a85["cybersecurity_concepts"] == ("Protect",)
    assert a85["operational_capabilities"] == ("Identity_and_access_management",)
    assert a85["security_domains"] == ("Protection",)
    assert cat.get("A.5.30").attributes["security_properties"] == ("Availability",)
    assert set(cat.get("A.5.7").attributes["control_type"]) == {"Preventive", "Detective", "Corrective"}
    assert cat.get("A.8.16").attributes["control_type"] == ("Detective", "Corrective")


def test_to_dict_has_the_contract_fields(cat: Catalogue) -> None:
    d = cat.get("8.5").to_dict()
    assert d["id"] == "A.8.5" and d["theme"] == "Technological"
    assert d["iso27001_2013"] == ["A.9.4.2"]
    assert d["attributes"]["operational_capabilities"] == ["Identity_and_access_management"]
    assert d["guidance"] == cat.get("8.5").guidance_text()


# ---------------------------------------------------------------- ids and look-ups


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1", "A.5.1"),
        ("A.5.1", "A.5.1"),
        (" a.5.1 ", "A.5.1"),
        ("A5.1", "A.5.1"),
        ("8.34", "A.8.34"),
        ("A.05.01", "A.5.1"),
        ("A.9.4.2", "A.9.4.2"),
        ("9.4.2", "A.9.4.2"),
        ("a.18.2.3", "A.18.2.3"),
    ],
)
def test_normalise_control_id(text: str, expected: str) -> None:
    assert normalise_control_id(text) == expected


@pytest.mark.parametrize(
    "text", ["", "A", "A.5", "5", "foo", "A.5.1.1.1", "A.5.x", "B.5.1", "5..1", "A.5.1;"]
)
def test_normalise_rejects_garbage(text: str) -> None:
    with pytest.raises(UnknownControlError) as err:
        normalise_control_id(text)
    assert "A.5.1" in str(err.value)


def test_normalise_rejects_non_strings() -> None:
    with pytest.raises(UnknownControlError):
        normalise_control_id(None)  # type: ignore[arg-type]


def test_get_accepts_all_spellings(cat: Catalogue) -> None:
    assert cat.get("A.8.5") is cat.get("8.5") is cat.get("a.8.5") is cat.get(" 8.5 ")
    assert isinstance(cat.get("8.5"), Control)


def test_get_unknown_id_names_it_and_what_was_expected(cat: Catalogue) -> None:
    with pytest.raises(UnknownControlError) as err:
        cat.get("A.9.9")
    message = str(err.value)
    assert "'A.9.9'" in message and "A.5.1" in message and "A.8.34" in message
    assert isinstance(err.value, ValueError)


def test_get_with_a_2013_id_points_to_the_2022_control(cat: Catalogue) -> None:
    with pytest.raises(UnknownControlError, match=r"2013.*A\.8\.5"):
        cat.get("A.9.4.2")


def test_contains(cat: Catalogue) -> None:
    assert "A.5.1" in cat and "5.1" in cat and "a.8.34" in cat
    assert "A.9.4.2" not in cat  # 2013 ids are legacy, not "in" the catalogue
    assert "A.8.35" not in cat
    assert "garbage" not in cat
    assert 5.1 not in cat  # type: ignore[operator]


def test_resolve(cat: Catalogue) -> None:
    assert cat.resolve("8.5") == ("A.8.5",)
    assert cat.resolve("9.4.2") == ("A.8.5",)
    assert cat.resolve("A.9.1.1") == ("A.5.15",)
    for bad in ("A.9.9", "A.9.9.9", "nope"):
        with pytest.raises(UnknownControlError):
            cat.resolve(bad)


def test_legacy_control_lookup(cat: Catalogue) -> None:
    assert cat.legacy_control("A.5.1") is None  # a 2022 id
    assert cat.legacy_control("A.5.1.1").maps_to == ("A.5.1",)
    assert cat.legacy_control("rubbish") is None


def test_by_theme(cat: Catalogue) -> None:
    assert len(cat.by_theme("People")) == 8
    assert cat.by_theme("people") == cat.by_theme("People")
    assert len(cat.by_theme("Organisational")) == 37
    with pytest.raises(ValueError, match="Technological"):
        cat.by_theme("Spiritual")


def test_filter(cat: Catalogue) -> None:
    assert cat.filter() == cat.controls
    assert cat.filter(theme="Physical") == cat.by_theme("Physical")
    governance = cat.filter(attribute=("operational_capabilities", "Governance"))
    assert {c.id for c in governance} >= {"A.5.1", "A.5.2", "A.5.4"}
    assert all("Governance" in c.attributes["operational_capabilities"] for c in governance)
    people_assets = cat.filter(theme="People", attribute=("operational_capabilities", "Asset_management"))
    assert [c.id for c in people_assets] == ["A.6.5", "A.6.7"]
    assert cat.filter(attribute=("security_properties", "confidentiality")) == cat.filter(
        attribute=("security_properties", "Confidentiality")
    )


@pytest.mark.parametrize(
    ("attribute", "needle"),
    [
        (("colour", "Blue"), "unknown attribute family 'colour'"),
        (("control_type", "Magic"), "unknown control_type tag 'Magic'"),
        (("security_domains", "Protect"), "Governance_and_Ecosystem"),
        (("control_type",), "(family, tag) pair"),
    ],
)
def test_filter_rejects_unknown_attributes(cat: Catalogue, attribute: tuple[str, str], needle: str) -> None:
    with pytest.raises(ValueError) as err:
        cat.filter(attribute=attribute)
    assert needle in str(err.value)


# ---------------------------------------------------------------- loading and validation


def test_load_catalogue_is_cached() -> None:
    assert load_catalogue() is load_catalogue()


def test_control_is_frozen_and_hashable(cat: Catalogue) -> None:
    control = cat.get("A.5.1")
    with pytest.raises(AttributeError):
        control.title = "x"  # type: ignore[misc]
    assert control in {control}


def _broken(edit) -> str:
    data = yaml.safe_load(_raw("controls.yaml"))
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.append(dict(d[0])), "A.5.1: duplicate id"),
        (lambda d: d[0].update(theme="People"), "does not match the id"),
        (lambda d: d[0]["attributes"].update(control_type=["Sneaky"]), "unknown control_type tag"),
        (lambda d: d[0]["attributes"].update(security_domains=[]), "non-empty list"),
        (lambda d: d[0]["attributes"].pop("security_domains"), "exactly the keys"),
        (lambda d: d[0].update(evidence_mode="sometimes"), "evidence_mode 'sometimes'"),
        (lambda d: d[0]["guidance"].update(purpose=""), "'purpose' must be a non-empty string"),
        (lambda d: d[0].update(id="A.5.1.1"), "must be written like A.5.1"),
        (lambda d: d[0].update(new_in_2022="no"), "new_in_2022"),
    ],
)
def test_broken_control_data_gives_a_clear_error(edit, needle: str) -> None:
    with pytest.raises(CatalogueDataError) as err:
        parse_catalogue(_broken(edit), _raw("iso27001_2013.yaml"))
    assert needle in str(err.value)
    assert "controls.yaml" in str(err.value)


def test_broken_legacy_data_gives_a_clear_error() -> None:
    legacy = yaml.safe_load(_raw("iso27001_2013.yaml"))
    legacy[0]["maps_to"] = ["A.5.99"]
    with pytest.raises(CatalogueDataError, match=r"iso27001_2013\.yaml: A\.5\.1\.1: .*A\.5\.99"):
        parse_catalogue(_raw("controls.yaml"), yaml.safe_dump(legacy))


def test_invalid_yaml_is_reported() -> None:
    with pytest.raises(CatalogueDataError, match="not valid YAML"):
        parse_catalogue("- id: [unclosed", _raw("iso27001_2013.yaml"))
