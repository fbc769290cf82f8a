"""Which ports a network security group opens to the whole Internet, as Azure evaluates its rules.

Inbound rules (custom and default) are taken in priority order, lowest number first; for each port
the first rule that applies decides. A rule speaks for "the Internet" when its source is any
address: `*`, `Any`, `Internet`, `0.0.0.0/0` (or `::/0`), alone or in `sourceAddressPrefixes`. An
allow rule with such a source opens the ports it covers that no earlier rule for the same traffic
has decided; a deny rule with such a source closes them for every later rule. Rules for narrower
sources neither expose the Internet nor shield it. Ports come from `destinationPortRange` and
`destinationPortRanges` (`*`, a single port, `low-high`).
"""

from __future__ import annotations

from typing import Any

INTERNET_SOURCES = frozenset({"*", "any", "internet", "0.0.0.0/0", "0.0.0.0", "::/0", "::"})
ALL_PORTS = (0, 65535)
Span = tuple[int, int]


def parse_ports(text: Any) -> list[Span]:
    """`*` -> all ports; `22` -> (22, 22); `1000-2000` -> (1000, 2000); anything else -> nothing."""
    value = str(text).strip().lower() if text is not None else ""
    if value in ("*", "any"):
        return [ALL_PORTS]
    low, sep, high = value.partition("-")
    try:
        if sep:
            a, b = int(low), int(high)
            return [(min(a, b), max(a, b))]
        port = int(value)
    except ValueError:
        return []
    return [(port, port)]


def rule_ports(props: dict[str, Any]) -> list[Span]:
    spans: list[Span] = []
    if props.get("destinationPortRange") not in (None, ""):
        spans += parse_ports(props["destinationPortRange"])
    for item in props.get("destinationPortRanges") or []:
        spans += parse_ports(item)
    return spans


def from_internet(props: dict[str, Any]) -> bool:
    sources = [props.get("sourceAddressPrefix"), *list(props.get("sourceAddressPrefixes") or [])]
    return any(isinstance(s, str) and s.strip().lower() in INTERNET_SOURCES for s in sources)


def _protocol_matches(props: dict[str, Any], protocol: str) -> bool:
    value = str(props.get("protocol") or "*").lower()
    return value in ("*", "any", protocol.lower())


def _subtract(spans: list[Span], decided: list[Span]) -> list[Span]:
    out = list(spans)
    for d_low, d_high in decided:
        nxt: list[Span] = []
        for low, high in out:
            if d_high < low or d_low > high:
                nxt.append((low, high))
                continue
            if low < d_low:
                nxt.append((low, d_low - 1))
            if high > d_high:
                nxt.append((d_high + 1, high))
        out = nxt
    return out


def internet_exposure(nsg: dict[str, Any], protocol: str) -> list[dict[str, Any]]:
    """The port spans `protocol` traffic from anywhere reaches, each with the rule that allows it."""
    props = nsg.get("properties") or {}
    rules = [r for r in (props.get("securityRules") or []) + (props.get("defaultSecurityRules") or [])
             if str((r.get("properties") or {}).get("direction", "")).lower() == "inbound"]
    rules.sort(key=lambda r: int((r.get("properties") or {}).get("priority") or 65535))
    decided: list[Span] = []
    exposed: list[dict[str, Any]] = []
    for rule in rules:
        rp = rule.get("properties") or {}
        if not _protocol_matches(rp, protocol) or not from_internet(rp):
            continue
        spans = rule_ports(rp)
        if str(rp.get("access", "")).lower() == "allow":
            for low, high in _subtract(spans, decided):
                exposed.append({"From": low, "To": high, "Protocol": protocol, "Rule": rule.get("name"),
                                "Priority": rp.get("priority"),
                                "Source": rp.get("sourceAddressPrefix") or rp.get("sourceAddressPrefixes")})
        decided += spans
    return exposed


def annotate(nsg: dict[str, Any]) -> dict[str, Any]:
    """The NSG with `InternetExposure` (details) and `InternetOpenTcpPorts` / `InternetOpenUdpPorts`
    (`[low, high]` pairs for rules to test with `overlaps`)."""
    tcp = internet_exposure(nsg, "Tcp")
    udp = internet_exposure(nsg, "Udp")
    return {**nsg, "InternetExposure": tcp + udp,
            "InternetOpenTcpPorts": [[e["From"], e["To"]] for e in tcp],
            "InternetOpenUdpPorts": [[e["From"], e["To"]] for e in udp]}
