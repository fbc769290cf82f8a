"""docs/reference.md against the code: commands, options, config keys, metrics and links.

The reference is written by hand; these tests make a command, option, configuration key or metric
that is added (or removed) without the reference following it fail, and keep every link in the
user documentation inside the repository.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from agent.cli import cli
from agent.config import SourceConfig, _ConfigModel
from tests.docs.markdown import anchors, links, sections

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"
TEXT = REFERENCE.read_text(encoding="utf-8")
SECTIONS = sections(TEXT)


def section(title: str) -> str:
    assert title in SECTIONS, f"docs/reference.md has no heading {title!r}"
    return SECTIONS[title]


def mentions(text: str, token: str) -> bool:
    """`token` appears in code, followed by the end of the code span, a space, `=` or `|`."""
    return re.search(r"`" + re.escape(token) + r"(?=[`\s=\\|\[])", text) is not None


# -- commands and options ----------------------------------------------------------------------
def commands(group: click.Command = cli, path: tuple[str, ...] = ("annexa",)) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), group
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            yield from commands(group.commands[name], (*path, name))


def documented(command: click.Command) -> bool:
    """A command the user runs: a leaf, or a group with options of its own (`controls`, `export`)."""
    return not isinstance(command, click.Group) or any(isinstance(p, click.Option) for p in command.params)


COMMANDS = {path: cmd for path, cmd in commands() if path != "annexa" and documented(cmd)}
GLOBAL = "Global options"


def command_section(path: str) -> str:
    return section(f"`{path}`")


def test_the_walk_sees_the_command_tree() -> None:
    # a vacuous walk would make every test below pass
    assert {"annexa run", "annexa findings", "annexa controls show", "annexa export keygen"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_its_section(path: str) -> None:
    command_section(path)


def test_no_section_describes_a_command_that_does_not_exist() -> None:
    headings = {t.strip("`") for t in SECTIONS if re.fullmatch(r"`annexa [a-z ]+`", t)}
    assert headings - set(COMMANDS) == set()


def _options() -> Iterator[tuple[str, str, click.Option]]:
    for path, cmd in [("annexa", cli), *COMMANDS.items()]:
        for param in cmd.params:
            if isinstance(param, click.Option):
                yield path, GLOBAL if path == "annexa" else f"`{path}`", param


OPTIONS = list(_options())


@pytest.mark.parametrize(("path", "title", "option"), OPTIONS,
                         ids=[f"{p} {o.opts[0]}" for p, _, o in OPTIONS])
def test_every_option_is_described_in_its_command_section(path: str, title: str, option: click.Option) -> None:
    text = section(title)
    for name in (*option.opts, *option.secondary_opts):
        assert mentions(text, name), f"{path} {name} is not described under {title}"
    if isinstance(option.type, click.Choice):
        missing = [c for c in option.type.choices if str(c) not in text]
        assert not missing, f"{path} {option.opts[0]}: choices {missing} are not described"
    default = option.default
    if not option.is_flag and default not in (None, (), False) and isinstance(default, str | int | float | Path):
        assert f"`{default}`" in text, f"{path} {option.opts[0]}: the default {default!r} is not given"


def test_the_help_options_are_described() -> None:
    text = section(GLOBAL)
    for name in cli.context_settings["help_option_names"]:
        assert mentions(text, name)


def test_exit_codes_in_the_code_are_in_the_table() -> None:
    from agent.errors import AnnexaError
    from agent.export import verify
    from agent.runner import EXIT_OK, EXIT_PARTIAL, EXIT_POLICY

    table = section("Exit codes")
    listed = {int(code) for code in re.findall(r"^\| `(\d+)` \|", table, flags=re.M)}
    used = {EXIT_OK, EXIT_POLICY, EXIT_PARTIAL, AnnexaError.exit_code, verify.EXIT_OK, verify.EXIT_MISMATCH,
            verify.EXIT_UNUSABLE}
    assert used <= listed, f"exit codes used by the code but not listed: {sorted(used - listed)}"


# -- configuration -----------------------------------------------------------------------------
def rows(text: str) -> set[str]:
    """The keys in the first column of the tables of a section (`| \\`key\\` | ...`)."""
    return set(re.findall(r"^\| `([A-Za-z_.\[\]]+)` \|", text, flags=re.M))


def test_every_top_level_config_key_is_listed() -> None:
    assert rows(section("Top-level keys")) == set(_ConfigModel.model_fields)


def test_every_nested_config_key_is_described() -> None:
    from typing import get_args, get_origin

    documented_keys = rows(TEXT)
    seen = 0
    for key, field in _ConfigModel.model_fields.items():
        model, prefix = field.annotation, key
        if get_origin(model) is list and key != "sources":  # a list of mappings: `key[].sub`
            model, prefix = get_args(model)[0], f"{key}[]"
        if isinstance(model, type) and issubclass(model, BaseModel) and model is not SourceConfig:
            for sub in model.model_fields:
                seen += 1
                assert f"{prefix}.{sub}" in documented_keys, f"config key {prefix}.{sub} is not in docs/reference.md"
    assert seen >= 10


def test_every_common_source_key_is_described() -> None:
    assert set(SourceConfig.model_fields) <= rows(section("Sources"))


BUILT_IN = sorted(ep.name for ep in entry_points(group="annexa.collectors"))


def test_the_built_in_source_types_are_found() -> None:
    assert {"aws", "azure", "gcp", "github", "okta", "google_workspace", "hr_csv", "bamboohr"} <= set(BUILT_IN)


@pytest.mark.parametrize("source_type", BUILT_IN)
def test_every_key_of_every_source_type_is_described(source_type: str) -> None:
    from collectors.registry import get_collector

    options = get_collector(source_type).Options
    listed = rows(section(f"`type: {source_type}`"))
    fields = set(options.model_fields)
    assert fields - listed == set(), f"{source_type}: keys not described"
    # and nothing is described that the source would refuse as an unknown key
    assert listed - fields - set(SourceConfig.model_fields) == set(), f"{source_type}: keys that do not exist"


# -- metrics -----------------------------------------------------------------------------------
FAMILIES = {"GaugeMetricFamily", "CounterMetricFamily", "HistogramMetricFamily", "SummaryMetricFamily",
            "InfoMetricFamily", "StateSetMetricFamily", "Gauge", "Counter", "Histogram", "Summary", "Info",
            "Enum"}
COUNTERS = {"CounterMetricFamily", "Counter"}


def exported_metrics() -> dict[str, str]:
    """{exposed name: file} for every `annexa_*` metric constructed anywhere in the agent package."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if name in FAMILIES and isinstance(first, ast.Constant) and isinstance(first.value, str) \
                    and first.value.startswith("annexa_"):
                metric = first.value
                if name in COUNTERS and not metric.endswith("_total"):
                    metric += "_total"  # what Prometheus sees
                if name in ("Info", "InfoMetricFamily"):
                    metric += "_info"
                out[metric] = str(path.relative_to(ROOT))
    return out


METRICS = exported_metrics()


def test_the_metric_scan_finds_the_metrics() -> None:
    assert {"annexa_control_status", "annexa_findings", "annexa_build_info", "annexa_source_errors_total",
            "annexa_remediation_duration_seconds", "annexa_daemon_jobs_total"} <= set(METRICS)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_exported_metric_is_described(metric: str) -> None:
    assert f"`{metric}`" in section("Prometheus metrics") + "".join(
        SECTIONS[t] for t in ("Store metrics (`metrics serve`, `metrics show`, `daemon`)", "Daemon metrics",
                              "Pushgateway metrics")), f"{metric} ({METRICS[metric]}) is not described"


def test_no_described_metric_is_missing_from_the_code() -> None:
    described = set(re.findall(r"`(annexa_[a-z_]+)`", TEXT))
    assert described - set(METRICS) == set()


# -- links -------------------------------------------------------------------------------------
def user_docs() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "deploy").rglob("*.md"))]
    return [f for f in files if ".tools" not in f.parts and "node_modules" not in f.parts]


DOCS = user_docs()


def test_the_user_docs_are_found() -> None:
    assert {ROOT / "README.md", REFERENCE, ROOT / "deploy" / "README.md"} <= set(DOCS)


def test_the_readme_points_at_the_reference() -> None:
    assert "docs/reference.md" in links((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_links_stay_inside_the_repository_and_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    name = doc.relative_to(ROOT)
    assert "../shared" not in text and "shared/spec" not in text, f"{name} refers to the shared folder"
    for target in links(text):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.lower().startswith("file:"):
            continue  # a web address (https:, mailto:) is not a file of this repository
        assert not target.lower().startswith("file:"), f"{name}: file: link {target!r}"
        path_part, _, fragment = target.partition("#")
        if path_part.startswith("/"):
            pytest.fail(f"{name}: absolute link {target!r} (use a path relative to the file)")
        resolved = (doc.parent / path_part).resolve() if path_part else doc.resolve()
        assert resolved.is_relative_to(ROOT), f"{name}: {target!r} leads outside the repository"
        assert resolved.exists(), f"{name}: {target!r} does not exist"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved.read_text(encoding="utf-8")), \
                f"{name}: {target!r}: no heading with that anchor"


def _named_in_row(section_title: str, key: str) -> set[str]:
    row = re.search(r"^\| `" + re.escape(key) + r"` \|(.*)$", section(section_title), flags=re.M)
    assert row, f"{section_title}: no row for {key}"
    return set(re.findall(r"`([a-z_0-9]+)`", row.group(1)))


def test_the_service_names_of_the_cloud_sources_are_the_real_ones() -> None:
    from collectors.aws.services import all_services as aws_services
    from collectors.azure import all_services as azure_services
    from collectors.gcp import endpoints
    from collectors.gcp.services import names as gcp_services

    assert _named_in_row("`type: aws`", "services") == {s.name for s in aws_services()}
    assert _named_in_row("`type: azure`", "services") == {s.name for s in azure_services()}
    assert _named_in_row("`type: gcp`", "services") == {*gcp_services(), "audit"}
    assert _named_in_row("`type: gcp`", "endpoints") - {"endpoint"} == set(endpoints.DEFAULTS)


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    from agent.config import load_config

    block = re.search(r"```yaml\n(.*?)```", section("Configuration (`annexa.yaml`)"), flags=re.S)
    assert block, "no example configuration"
    path = tmp_path / "annexa.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    config = load_config(path)
    assert {s.type for s in config.sources} == {"aws", "github"}
    assert config.remediation.days_for("critical") == 3


def test_csv_columns_are_the_real_ones() -> None:
    from agent.cli import cmd_controls, cmd_findings
    from agent.export import (
        controls,
        exceptions_register,
        policy_inputs,
        population,
        remediation,
        samples,
        snapshots,
        timeline,
    )

    def listed(text: str) -> list[str]:
        match = re.search(r"CSV columns: `([^`]*)`", text)
        assert match, "no CSV columns line"
        return [c.strip() for c in match.group(1).split(",")]

    assert listed(section("`annexa findings`")) == list(cmd_findings.CSV)
    assert listed(section("`annexa controls`")) == list(cmd_controls.CSV_COLUMNS)
    bundle = {file: [c.strip() for c in cols.split(",")] for file, cols in
              re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", section("CSV columns"), flags=re.M)}
    assert bundle == {
        "controls/<id>/findings.csv": list(controls.FINDING_COLUMNS),
        "controls/<id>/population.csv": list(controls.POPULATION_COLUMNS),
        "controls/<id>/collection-errors.csv": list(population.ERROR_COLUMNS),
        "controls/<id>/snapshots.csv": list(snapshots.COLUMNS),
        "controls/<id>/timeline.csv": list(timeline.COLUMNS),
        "exceptions.csv": list(exceptions_register.COLUMNS),
        "exceptions-findings.csv": list(exceptions_register.FINDING_COLUMNS),
        "remediation.csv": list(remediation.COLUMNS),
        "policy/versions.csv": list(policy_inputs.VERSION_COLUMNS),
        "samples/<instant>/findings.csv": list(samples.FINDING_COLUMNS),
        "samples/<instant>/controls.csv": list(samples.CONTROL_COLUMNS),
    }


def test_the_roster_column_names_are_the_real_ones() -> None:
    from typing import get_args

    from collectors.hr.bamboohr import BambooHrCollector
    from collectors.hr.csv_source import HrCsvCollector

    def our_names(model: type[BaseModel], key: str) -> set[str]:
        mapping = model.model_fields[key].annotation
        return set(get_args(get_args(mapping)[0]))

    assert _named_in_row("`type: hr_csv`", "columns") == our_names(HrCsvCollector.Options, "columns")
    assert _named_in_row("`type: bamboohr`", "fields") == our_names(BambooHrCollector.Options, "fields")
