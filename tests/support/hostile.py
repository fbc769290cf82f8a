"""Hostile YAML documents shared by the input-hardening tests (issue 9, point 6)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# 9 levels of 9 aliases: 9**9 (387 million) strings if expanded; a few hundred bytes as written.
ALIAS_BOMB = "".join(
    [f'{chr(97 + i)}: &{chr(97 + i)} [{", ".join([f"*{chr(96 + i)}"] * 9)}]\n' if i else
     'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' for i in range(9)])
DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
COMPLEX_KEY = "? [a, b]\n: 1\n"
BIG_INT = "x: " + "9" * 5000 + "\n"
HOSTILE = {"alias bomb": ALIAS_BOMB, "deep nesting": DEEP, "complex key": COMPLEX_KEY, "5000-digit integer": BIG_INT}


# --- hypothesis strategies: hostile YAML documents for each input file, as bytes -----------------------

# Plain scalars YAML reads as something other than text, or that are easy to get wrong.
TRICKY_SCALARS = ["5.10", "5.1", "8.30", "A.5.1", "A.8.34", "A.9.4.2", "5", "on", "off", "yes", "no", "y", "null",
                  "~", "true", "2026-12-31", "9999-12-31", "0001-01-01", "2026-02-30", "2026-12-31T18:00:00Z",
                  "9999-12-31T23:59:59-05:00", "0x1F", "0o17", "0b101", "1:30:00", ".inf", "-.inf", ".nan", "1e400",
                  "-0", "1_000", "9223372036854775808", "-9223372036854775809", "12345678901234567890", "",
                  "'quoted'", '"5.10"', "!!binary aGVsbG8=", "!!python/object:os.system x", "!!set {a}",
                  "!!int abc", "!!float x", "!!timestamp 2026-13-01", "!!map x", "!!seq x", "!custom 1", "*nowhere",
                  "&anchor 1", "/dev/zero", "..", "/", "testkit.*", "/(/", "/[a-z]+/", "aws.s3.*", "[]", "{}"]

# Text fragments emitted as double-quoted YAML strings (JSON escapes), surrogates and controls included.
_quoted_text = st.one_of(  # mostly valid text (non-ASCII, controls); sometimes lone surrogates
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).map(json.dumps),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).map(json.dumps),
    st.text(max_size=10).map(json.dumps))
_plain = st.sampled_from(TRICKY_SCALARS)
_digits = st.one_of(st.integers(min_value=15, max_value=25), st.integers(min_value=26, max_value=6000)).map(
    lambda n: "9" * n)
_numbers = st.one_of(st.integers(min_value=-(10**25), max_value=10**25).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr), _digits)
SCALARS = st.integers(0, 3).flatmap(lambda pick: (_plain, _plain, _quoted_text, _numbers)[pick])


def flow(children: st.SearchStrategy[str], keys: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A flow-style list or mapping of `children`."""
    lists = st.lists(children, max_size=5).map(lambda items: "[" + ", ".join(items) + "]")
    maps = st.lists(st.tuples(keys, children), max_size=5).map(
        lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}")
    return st.one_of(lists, maps)


def values(keys: st.SearchStrategy[str] = SCALARS) -> st.SearchStrategy[str]:
    """Any YAML value: a tricky scalar or nested flow collections of them."""
    return st.recursive(SCALARS, lambda inner: flow(inner, keys), max_leaves=12)


def alias_bomb(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_FRAGMENTS = st.one_of(
    st.builds(alias_bomb, st.integers(2, 12), st.integers(2, 12)),
    st.integers(1, 6000).map(lambda n: "x: " + "[" * n + "]" * n + "\n"),
    st.integers(1, 3000).map(lambda n: "x: " + "{a: " * n + "1" + "}" * n + "\n"),
    st.integers(1, 300).map(lambda n: "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "v\n"),
    st.just("? [a, b]\n: 1\n"), st.just("? {a: 1}\n: 1\n"), st.just("a: &a [*a]\n"),
    st.just("a: &x 1\nb: &x 2\n"), st.just("a: b\n---\nc: d\n"), st.just("- a\n- b\n"), st.just("just text\n"),
    st.just(""), st.just("~\n"), st.just("a: {<<: [1, 2]}\n"), st.just("a: &a {x: 1}\nb: {<<: *a, x: 2, x: 3}\n"),
)


def mapping_doc(fields: dict[str, st.SearchStrategy[str]], extra_keys: bool = True) -> st.SearchStrategy[str]:
    """A block mapping with some of `fields` (each with its own value strategy) and maybe unknown keys."""
    chosen = st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields)).flatmap(
        lambda names: st.tuples(*(st.tuples(st.just(n), fields[n]) for n in names)))
    unknown = st.lists(st.tuples(SCALARS, values()), max_size=1 if extra_keys else 0).flatmap(
        lambda pairs: st.sampled_from([[], [], [], pairs]))
    return st.tuples(chosen, unknown).map(lambda parts: "".join(f"{k}: {v}\n" for k, v in [*parts[0], *parts[1]]))


def block_list(item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`\n  - item` lines under a key (items are single-line flow values)."""
    return st.lists(item, max_size=4).map(lambda items: "".join(f"\n  - {i}" for i in items) or " []")


def flow_mapping(fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    return mapping_doc(fields).map(lambda text: "{" + ", ".join(text.splitlines()) + "}")


def near_valid(base: dict[str, str], fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """A valid flow mapping with one to three of its values replaced by hostile ones (or dropped)."""
    def build(changes: list[tuple[str, str | None]]) -> str:
        doc = dict(base)
        for key, value in changes:
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        return "{" + ", ".join(f"{k}: {v}" for k, v in doc.items()) + "}"

    change = st.sampled_from(sorted(fields)).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(fields[key], fields[key], fields[key], st.none())))
    return st.lists(change, min_size=1, max_size=3).map(build)


def either(base: dict[str, str], fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    return st.integers(0, 2).flatmap(lambda pick: flow_mapping(fields) if pick == 0 else near_valid(base, fields))


_ids = st.one_of(st.sampled_from(["5.10", "A.5.10", "8.30", "A.5.1", "5.1", "A.8.34", "A.9.4.2", "7.4"]), SCALARS)
SOA_DOCS = st.one_of(
    st.dictionaries(_ids, flow_mapping({"applicable": values(), "implementation": st.one_of(
        st.sampled_from(["implemented", "partially", "planned", "not_implemented"]), SCALARS),
        "owner": values(), "justification": values()}), max_size=6).map(
        lambda entries: "controls:\n" + "".join(f"  {k}: {v}\n" for k, v in entries.items())),
    mapping_doc({"controls": values(_ids)}),
)
EXCEPTION_DOCS = st.lists(either({
    "rule": "testkit.*", "justification": "Accepted for now", "owner": "alice", "approved_by": "ciso",
    "expires": "2026-12-31"}, {
    "id": SCALARS, "rule": st.one_of(st.sampled_from(["testkit.*", "testkit.widget.encrypted", "*"]), SCALARS),
    "resource": SCALARS, "justification": values(), "owner": values(), "approved_by": values(),
    "expires": st.one_of(st.sampled_from(["2026-12-31", "9999-12-31", "9999-12-30", "'9999-12-31T23:00:00-05:00'",
                                          "2026-02-30", "0001-01-01"]), SCALARS)}), max_size=4).map(
    lambda items: "exceptions:" + ("".join(f"\n  - {i}" for i in items) or " []") + "\n")
_expressions = st.one_of(st.sampled_from([
    "encryption.enabled", "regex_match(name, '(')", "regex_match(name, pattern)", "(" * 2000 + "a" + ")" * 2000,
    "!" * 500 + "a", "length(x) > `0`", "days_since(created) < `90`", "a.[b", "`\"x\"`"]), SCALARS)
RULE_DOCS = st.lists(either({
    "id": "testkit.widget.prop_rule", "title": "A title", "resource": "testkit.widget", "severity": "high",
    "controls": "[A.8.24]", "assert": "encryption.enabled", "message": "'Widget {name}'",
    "guidance": "Some guidance text.", "remediation": "Fix it."}, {
    "id": st.one_of(st.just("testkit.widget.prop_rule"), SCALARS), "title": st.one_of(st.just("A title"), SCALARS),
    "kind": st.sampled_from(["jmespath", "python", "other", "5.10"]),
    "resource": st.sampled_from(["testkit.widget", "testkit.gadget", "5.10", "[]"]),
    "resources": st.sampled_from(["[testkit.account]", "[]", "x"]),
    "severity": st.sampled_from(["high", "low", "urgent", "5"]), "controls": values(_ids),
    "where": _expressions, "assert": _expressions, "unknown_if": _expressions, "message": st.one_of(
        st.sampled_from(["Widget {name}", "{regex_match(name, '[')}", "{", "}", "{ }", "{a.[b}"]), SCALARS),
    # only modules that are safe to import: importing a rule module runs its code
    "function": st.sampled_from(["tests.support.bad_rules:raises", "tests.support.cross_rules:leaver_has_no_account",
                                 "no_such_module_x:f", "json:loads", "json:nope", "json:__doc__", ":", "a:b:c",
                                 "tests.support.bad_rules:"]),
    "guidance": st.one_of(st.just("Some guidance text."), SCALARS),
    "remediation": st.one_of(st.just("Fix it."), SCALARS),
}), max_size=3).map(lambda items: "provider: testkit\nrules:" + ("".join(f"\n  - {i}" for i in items) or " []") + "\n")
CONFIG_DOCS = mapping_doc({
    "store": flow_mapping({"url": st.one_of(st.sampled_from(["sqlite:///x.db", "mysql://a/b", "postgresql://[::1",
                                                             "sqlite:///" + "x" * 300 + "/a.db", "garbage"]), SCALARS),
                           "evidence": SCALARS}),
    "soa": SCALARS, "exceptions": SCALARS,
    "sources": block_list(either({"name": "kit", "type": "testkit", "world": "w.json"}, {
                                        "name": st.one_of(st.just("kit"), SCALARS),
                                        "type": st.sampled_from(["testkit", "aws", "nope", "5.10"]),
                                        "world": SCALARS, "schedule": st.one_of(st.just("'0 * * * *'"), SCALARS),
                                        "max_concurrency": _numbers, "rate_limit": _numbers, "token": SCALARS,
                                        "token_env": SCALARS, "enabled": SCALARS})),
    "metrics": flow_mapping({"listen": st.one_of(st.sampled_from(["'127.0.0.1:9464'", "'h:99999'", "'h:" + "9" * 5000
                                                                  + "'", "'h:²'"]), SCALARS)}),
    "identity": flow_mapping({"domains": values(), "aliases": values(), "service_accounts": values()}),
    "rules": flow_mapping({"paths": st.just("[]"), "disabled": values()}),
    "export": flow_mapping({"signing_key": SCALARS, "signing_key_env": SCALARS}),
})


def _mangle(data: bytes, how: int, noise: bytes, at: int) -> bytes:
    if how == 1:
        return data.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    if how == 2:
        return b"\xef\xbb\xbf" + data
    if how == 3:
        cut = at % (len(data) + 1)
        return data[:cut] + noise + data[cut:]
    if how == 4:
        return data[: at % (len(data) + 1)]
    return data


def as_file_bytes(documents: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """A document, a hostile fragment, or either with odd encodings and random bytes spliced in."""
    # one_of flattens nested one_ofs (and merges repeats), so weight the choice explicitly
    text = st.integers(0, 3).flatmap(lambda pick: HOSTILE_FRAGMENTS if pick == 0 else documents)
    encoded = text.map(lambda t: t.encode("utf-8", "surrogatepass"))
    return st.builds(_mangle, encoded, st.sampled_from([0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
                     st.binary(min_size=1, max_size=8), st.integers(min_value=0))
