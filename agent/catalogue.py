"""The ISO/IEC 27001:2022 Annex A control catalogue.

The data ships inside the wheel as ``mappings/controls.yaml`` (the 93 controls, their
ISO/IEC 27002:2022 attribute tags and Annexa's own guidance text) and
``mappings/iso27001_2013.yaml`` (the 114 controls of the 2013 edition and the 2022
control(s) each one became). This module loads, validates and indexes that data.

Control ids are written ``A.5.1`` … ``A.8.34`` (two numeric parts); ids of the 2013
edition have three numeric parts (``A.9.4.2``), so the two can never be confused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import yaml

THEMES: tuple[str, ...] = ("Organizational", "People", "Physical", "Technological")

ATTRIBUTE_VOCABULARY: dict[str, tuple[str, ...]] = {
    "control_type": ("Preventive", "Detective", "Corrective"),
    "security_properties": ("Confidentiality", "Integrity", "Availability"),
    "cybersecurity_concepts": ("Identify", "Protect", "Detect", "Respond", "Recover"),
    "operational_capabilities": (
        "Governance",
        "Asset_management",
        "Information_protection",
        "Human_resource_security",
        "Physical_security",
        "System_and_network_security",
        "Application_security",
        "Secure_configuration",
        "Identity_and_access_management",
        "Threat_and_vulnerability_management",
        "Continuity",
        "Supplier_relationships_security",
        "Legal_and_compliance",
        "Information_security_event_management",
        "Information_security_assurance",
    ),
    "security_domains": ("Governance_and_Ecosystem", "Protection", "Defence", "Resilience"),
}

EVIDENCE_MODES: tuple[str, ...] = ("automated", "partly automated", "manual")

CONTROLS_FILE = "controls.yaml"
LEGACY_FILE = "iso27001_2013.yaml"

# Clause number of a 2022 control id -> its theme.
_THEME_BY_CLAUSE = {5: "Organizational", 6: "People", 7: "Physical", 8: "Technological"}
_THEME_ALIASES = {"organisational": "Organizational"}
_ID_RE = re.compile(r"^(?:A\.?\s*)?(\d{1,2}(?:\.\d{1,2}){1,2})$", re.IGNORECASE)
_EXPECTED = "expected an ISO 27001:2022 Annex A id such as A.5.1 or A.8.34 (or a 2013 id such as A.9.4.2)"


class UnknownControlError(ValueError):
    """A control id that is malformed or not in the catalogue."""


class CatalogueDataError(RuntimeError):
    """The shipped catalogue data is broken (a packaging or editing mistake, not a user error)."""


@dataclass(frozen=True)
class Guidance:
    """Annexa's own guidance for one control (never ISO text)."""

    purpose: str
    implementation: str
    evidence: str
    automation: str


@dataclass(frozen=True)
class Control:
    """One ISO/IEC 27001:2022 Annex A control."""

    id: str
    title: str
    theme: str
    new_in_2022: bool
    attributes: dict[str, tuple[str, ...]] = field(hash=False)
    evidence_mode: str
    evidence_sources: tuple[str, ...]
    guidance: Guidance
    iso27001_2013: tuple[str, ...]

    def guidance_text(self) -> str:
        """Purpose and implementation as one paragraph: the contract's ``guidance`` string."""
        return f"{self.guidance.purpose} {self.guidance.implementation}"

    def has_tag(self, family: str, tag: str) -> bool:
        """Whether the control carries ``tag`` in attribute ``family``."""
        return tag in self.attributes.get(family, ())

    def to_dict(self) -> dict[str, Any]:
        """The static part of the contract's Control JSON object (plus catalogue extras)."""
        return {
            "id": self.id,
            "title": self.title,
            "theme": self.theme,
            "attributes": {family: list(tags) for family, tags in self.attributes.items()},
            "iso27001_2013": list(self.iso27001_2013),
            "guidance": self.guidance_text(),
            "new_in_2022": self.new_in_2022,
            "evidence_mode": self.evidence_mode,
            "evidence_sources": list(self.evidence_sources),
        }


@dataclass(frozen=True)
class LegacyControl:
    """One ISO/IEC 27001:2013 Annex A control and the 2022 control(s) it became."""

    id: str
    title: str
    maps_to: tuple[str, ...]


def _id_key(control_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in control_id[2:].split("."))


def normalise_control_id(text: str) -> str:
    """Return the canonical form of a control id.

    ``"5.1"``, ``"A.5.1"`` and ``" a.5.1 "`` all become ``"A.5.1"``; 2013 ids such as
    ``"9.4.2"`` become ``"A.9.4.2"``. Leading zeros are dropped (``"A.05.01"`` -> ``"A.5.1"``).
    This only checks the shape of the id, not that the control exists.
    Raises UnknownControlError for anything that is not a control id.
    """
    if not isinstance(text, str):
        raise UnknownControlError(f"control id must be a string, got {type(text).__name__}: {_EXPECTED}")
    match = _ID_RE.match(text.strip())
    if match is None:
        raise UnknownControlError(f"not a control id {text!r}: {_EXPECTED}")
    return "A." + ".".join(str(int(part)) for part in match.group(1).split("."))


class Catalogue:
    """The 93 controls of ISO/IEC 27001:2022 Annex A and the 2013 correspondence."""

    def __init__(self, controls: tuple[Control, ...], legacy: tuple[LegacyControl, ...]) -> None:
        self.controls: tuple[Control, ...] = tuple(sorted(controls, key=lambda c: _id_key(c.id)))
        self.legacy: tuple[LegacyControl, ...] = tuple(sorted(legacy, key=lambda c: _id_key(c.id)))
        self._by_id: dict[str, Control] = {c.id: c for c in self.controls}
        self._legacy_by_id: dict[str, LegacyControl] = {c.id: c for c in self.legacy}

    def __len__(self) -> int:
        return len(self.controls)

    def __iter__(self) -> Iterator[Control]:
        return iter(self.controls)

    def __contains__(self, control_id: object) -> bool:
        """Whether ``control_id`` names a 2022 control; 2013 ids are not "in" the catalogue."""
        if not isinstance(control_id, str):
            return False
        try:
            return normalise_control_id(control_id) in self._by_id
        except UnknownControlError:
            return False

    def get(self, control_id: str) -> Control:
        """The 2022 control named by ``control_id`` (``"A.8.5"``, ``"8.5"``, ``"a.8.5"``)."""
        cid = normalise_control_id(control_id)
        control = self._by_id.get(cid)
        if control is not None:
            return control
        legacy = self._legacy_by_id.get(cid)
        if legacy is not None:
            raise UnknownControlError(
                f"{cid!r} is an ISO 27001:2013 control ({legacy.title}); it corresponds to "
                f"{', '.join(legacy.maps_to)} in ISO 27001:2022"
            )
        raise UnknownControlError(f"unknown control id {control_id!r}: {_EXPECTED}")

    def resolve(self, control_id: str) -> tuple[str, ...]:
        """The 2022 id(s) for a 2022 or a 2013 id.

        ``"8.5"`` -> ``("A.8.5",)``; ``"A.9.4.2"`` -> ``("A.8.5",)``;
        ``"A.18.2.3"`` -> ``("A.5.36", "A.8.8")``.
        """
        cid = normalise_control_id(control_id)
        if cid in self._by_id:
            return (cid,)
        legacy = self._legacy_by_id.get(cid)
        if legacy is not None:
            return legacy.maps_to
        raise UnknownControlError(f"unknown control id {control_id!r}: {_EXPECTED}")

    def legacy_control(self, control_id: str) -> LegacyControl | None:
        """The 2013 control named by ``control_id``, or None if there is none."""
        try:
            cid = normalise_control_id(control_id)
        except UnknownControlError:
            return None
        return self._legacy_by_id.get(cid)

    def by_theme(self, theme: str) -> tuple[Control, ...]:
        """The controls of one theme (case-insensitive; "Organisational" is accepted too)."""
        name = _canonical_theme(theme)
        return tuple(c for c in self.controls if c.theme == name)

    def filter(
        self, theme: str | None = None, attribute: tuple[str, str] | None = None
    ) -> tuple[Control, ...]:
        """Controls matching an optional theme and an optional ``(family, tag)`` attribute.

        Example: ``filter(attribute=("operational_capabilities", "Governance"))``.
        Raises ValueError naming the allowed values when the theme, family or tag is unknown.
        """
        selected = self.controls if theme is None else self.by_theme(theme)
        if attribute is None:
            return selected
        family, tag = _canonical_attribute(attribute)
        return tuple(c for c in selected if tag in c.attributes[family])


def _canonical_theme(theme: str) -> str:
    wanted = str(theme).strip().lower()
    wanted = _THEME_ALIASES.get(wanted, wanted).lower()
    for name in THEMES:
        if name.lower() == wanted:
            return name
    raise ValueError(f"unknown theme {theme!r}: expected one of {', '.join(THEMES)}")


def _canonical_attribute(attribute: tuple[str, str]) -> tuple[str, str]:
    try:
        family, tag = attribute
    except (TypeError, ValueError):
        raise ValueError(
            f"attribute must be a (family, tag) pair such as ('operational_capabilities', 'Governance'), "
            f"got {attribute!r}"
        ) from None
    family_key = str(family).strip().lower()
    if family_key not in ATTRIBUTE_VOCABULARY:
        raise ValueError(
            f"unknown attribute family {family!r}: expected one of {', '.join(ATTRIBUTE_VOCABULARY)}"
        )
    allowed = ATTRIBUTE_VOCABULARY[family_key]
    wanted = str(tag).strip().lstrip("#").replace(" ", "_").lower()
    for value in allowed:
        if value.lower() == wanted:
            return family_key, value
    raise ValueError(f"unknown {family_key} tag {tag!r}: expected one of {', '.join(allowed)}")


# --------------------------------------------------------------------------- loading


def _fail(source: str, where: str, problem: str) -> CatalogueDataError:
    return CatalogueDataError(f"{source}: {where}: {problem}")


def _text(entry: Mapping[str, Any], key: str, source: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, where, f"field {key!r} must be a non-empty string")
    return value.strip()


def _texts(value: Any, source: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(source, where, "must be a non-empty list")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(source, where, "every item must be a non-empty string")
    if len(set(value)) != len(value):
        raise _fail(source, where, "contains duplicates")
    return tuple(v.strip() for v in value)


def _entries(data: Any, source: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list) or not data:
        raise _fail(source, "top level", "must be a non-empty YAML list")
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise _fail(source, f"entry #{index + 1}", "must be a mapping")
    return data


def _entry_id(entry: Mapping[str, Any], index: int, parts: int, source: str) -> str:
    raw = entry.get("id")
    where = f"entry #{index + 1}"
    try:
        cid = normalise_control_id(raw)
    except UnknownControlError as exc:
        raise _fail(source, where, f"bad id {raw!r}") from exc
    if cid != raw or cid.count(".") != parts:
        raise _fail(source, where, f"id {raw!r} must be written like {'A.5.1' if parts == 2 else 'A.9.4.2'}")
    return cid


def _parse_control(entry: Mapping[str, Any], index: int, source: str) -> Control:
    cid = _entry_id(entry, index, 2, source)
    theme = _text(entry, "theme", source, cid)
    expected_theme = _THEME_BY_CLAUSE.get(_id_key(cid)[0])
    if expected_theme is None or theme != expected_theme:
        raise _fail(source, cid, f"theme {theme!r} does not match the id (expected {expected_theme!r})")
    if not isinstance(entry.get("new_in_2022"), bool):
        raise _fail(source, cid, "field 'new_in_2022' must be true or false")
    attrs = entry.get("attributes")
    if not isinstance(attrs, Mapping) or set(attrs) != set(ATTRIBUTE_VOCABULARY):
        raise _fail(source, cid, f"'attributes' must have exactly the keys {', '.join(ATTRIBUTE_VOCABULARY)}")
    attributes: dict[str, tuple[str, ...]] = {}
    for family, allowed in ATTRIBUTE_VOCABULARY.items():
        tags = _texts(attrs[family], source, f"{cid} attributes.{family}")
        unknown = [t for t in tags if t not in allowed]
        if unknown:
            raise _fail(source, cid, f"unknown {family} tag(s) {unknown}: allowed {', '.join(allowed)}")
        attributes[family] = tags
    mode = entry.get("evidence_mode")
    if mode not in EVIDENCE_MODES:
        raise _fail(source, cid, f"evidence_mode {mode!r} must be one of {', '.join(EVIDENCE_MODES)}")
    guidance = entry.get("guidance")
    if not isinstance(guidance, Mapping):
        raise _fail(source, cid, "field 'guidance' must be a mapping")
    parts = {name: _text(guidance, name, source, f"{cid} guidance") for name in Guidance.__dataclass_fields__}
    return Control(
        id=cid,
        title=_text(entry, "title", source, cid),
        theme=theme,
        new_in_2022=entry["new_in_2022"],
        attributes=attributes,
        evidence_mode=mode,
        evidence_sources=_texts(entry.get("evidence_sources"), source, f"{cid} evidence_sources"),
        guidance=Guidance(**parts),
        iso27001_2013=(),
    )


def parse_catalogue(
    controls_yaml: str,
    legacy_yaml: str,
    controls_source: str = CONTROLS_FILE,
    legacy_source: str = LEGACY_FILE,
) -> Catalogue:
    """Build a validated Catalogue from the two YAML documents.

    Raises CatalogueDataError naming the file, the control and the field at fault.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same result, faster
    try:
        control_data = yaml.load(controls_yaml, Loader=loader)
        legacy_data = yaml.load(legacy_yaml, Loader=loader)
    except yaml.YAMLError as exc:
        raise CatalogueDataError(f"catalogue data is not valid YAML: {exc}") from exc

    controls: dict[str, Control] = {}
    for index, entry in enumerate(_entries(control_data, controls_source)):
        control = _parse_control(entry, index, controls_source)
        if control.id in controls:
            raise _fail(controls_source, control.id, "duplicate id")
        controls[control.id] = control

    legacy: dict[str, LegacyControl] = {}
    for index, entry in enumerate(_entries(legacy_data, legacy_source)):
        lid = _entry_id(entry, index, 3, legacy_source)
        if lid in legacy:
            raise _fail(legacy_source, lid, "duplicate id")
        maps_to = _texts(entry.get("maps_to"), legacy_source, f"{lid} maps_to")
        missing = [m for m in maps_to if m not in controls]
        if missing:
            raise _fail(legacy_source, lid, f"maps_to names unknown 2022 control(s) {missing}")
        legacy[lid] = LegacyControl(id=lid, title=_text(entry, "title", legacy_source, lid), maps_to=maps_to)

    reverse: dict[str, list[str]] = {cid: [] for cid in controls}
    for item in sorted(legacy.values(), key=lambda c: _id_key(c.id)):
        for target in item.maps_to:
            reverse[target].append(item.id)
    linked = tuple(replace(c, iso27001_2013=tuple(reverse[c.id])) for c in controls.values())
    return Catalogue(linked, tuple(legacy.values()))


@functools.lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """Load the catalogue shipped in the ``mappings`` package (cached after the first call)."""
    package = resources.files("mappings")
    try:
        controls_yaml = package.joinpath(CONTROLS_FILE).read_text(encoding="utf-8")
        legacy_yaml = package.joinpath(LEGACY_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise CatalogueDataError(
            f"control catalogue data is missing from the installed 'mappings' package: {exc}"
        ) from exc
    return parse_catalogue(controls_yaml, legacy_yaml, f"mappings/{CONTROLS_FILE}", f"mappings/{LEGACY_FILE}")
