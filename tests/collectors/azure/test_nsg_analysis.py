"""How NSG rules open ports to the Internet: priorities, deny rules, port ranges and lists, sources."""

from __future__ import annotations

from typing import Any

import pytest

from agent.fakeapi.azure import infra
from collectors.azure.services.nsg_analysis import annotate, parse_ports

SUB = "00000000-0000-4000-8000-000000000001"


def exposure(*rules: dict[str, Any]) -> list[list[int]]:
    return annotate(infra.nsg(SUB, "rg", "n", list(rules)))["InternetOpenTcpPorts"]


@pytest.mark.parametrize("source", ["*", "Internet", "0.0.0.0/0", "Any", "internet", ["10.0.0.0/8", "0.0.0.0/0"]])
def test_every_spelling_of_anywhere_is_the_internet(source: Any) -> None:
    assert exposure(infra.security_rule("r", 100, ports="22", source=source)) == [[22, 22]]


@pytest.mark.parametrize("source", ["10.0.0.0/8", "VirtualNetwork", "AzureLoadBalancer", "203.0.113.7/32",
                                    ["10.0.0.0/8", "192.168.0.0/16"]])
def test_narrower_sources_are_not_the_internet(source: Any) -> None:
    assert exposure(infra.security_rule("r", 100, ports="22", source=source)) == []


def test_port_forms() -> None:
    assert parse_ports("*") == [(0, 65535)]
    assert parse_ports("3389") == [(3389, 3389)]
    assert parse_ports("1000-2000") == [(1000, 2000)]
    assert parse_ports("2000-1000") == [(1000, 2000)]
    assert parse_ports("ssh") == [] and parse_ports(None) == []
    assert exposure(infra.security_rule("r", 100, ports=["22", "8000-8080"])) == [[22, 22], [8000, 8080]]
    # destinationPortRange and destinationPortRanges both count when a rule carries both
    rule = infra.security_rule("r", 100, ports="443")
    rule["properties"]["destinationPortRanges"] = ["3389"]
    assert exposure(rule) == [[443, 443], [3389, 3389]]


def test_an_earlier_deny_for_any_source_shields_later_allows() -> None:
    assert exposure(infra.security_rule("deny", 100, ports="22", access="Deny"),
                    infra.security_rule("allow", 200, ports="20-30")) == [[20, 21], [23, 30]]


def test_a_later_deny_does_not_help_and_priority_not_list_order_decides() -> None:
    allow = infra.security_rule("allow", 100, ports="22")
    deny = infra.security_rule("deny", 4000, ports="*", access="Deny")
    assert exposure(deny, allow) == [[22, 22]]
    assert exposure(infra.security_rule("allow", 300, ports="22"),
                    infra.security_rule("deny", 200, ports="22", access="Deny")) == []


def test_a_deny_for_a_narrow_source_does_not_shield_the_internet() -> None:
    assert exposure(infra.security_rule("deny-one", 100, ports="22", source="198.51.100.1", access="Deny"),
                    infra.security_rule("allow", 200, ports="22")) == [[22, 22]]


def test_default_rules_deny_the_rest_and_outbound_rules_are_ignored() -> None:
    assert exposure() == []
    assert exposure(infra.security_rule("out", 100, ports="*", direction="Outbound")) == []


def test_protocols() -> None:
    udp = infra.security_rule("udp", 100, ports="3389", protocol="Udp")
    data = annotate(infra.nsg(SUB, "rg", "n", [udp]))
    assert data["InternetOpenTcpPorts"] == [] and data["InternetOpenUdpPorts"] == [[3389, 3389]]
    assert exposure(infra.security_rule("icmp", 100, ports="*", protocol="Icmp")) == []
    assert exposure(infra.security_rule("any", 100, ports="22", protocol="*")) == [[22, 22]]
    detail = annotate(infra.nsg(SUB, "rg", "n", [infra.security_rule("ssh", 140, ports="22")]))["InternetExposure"]
    assert detail == [{"From": 22, "To": 22, "Protocol": "Tcp", "Rule": "ssh", "Priority": 140, "Source": "*"}]
