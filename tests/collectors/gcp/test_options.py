"""GCP source keys in annexa.yaml: valid values load, bad ones are one clear error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError


def config(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "annexa.yaml"
    path.write_text(f"sources:\n  - name: g\n    type: gcp\n{options}")
    return path


def test_valid_keys_load(tmp_path: Path) -> None:
    from collectors.gcp import GcpOptions

    loaded = load_config(config(tmp_path, "    organization: 123456789012\n    projects: [acme-prod, 4567]\n"
                                          "    endpoints: {logging: 'http://127.0.0.1:9', compute: 'https://x.p.googleapis.com'}\n"
                                          "    services: [iam, audit]\n    kms_locations: [global]\n"))
    opts = GcpOptions.model_validate(loaded.source("g").options())
    assert opts.organization == "123456789012" and opts.projects == ["acme-prod", "4567"]
    assert GcpOptions.model_validate({"organization": "organizations/42"}).organization == "42"


@pytest.mark.parametrize(("options", "field", "text"), [
    ("    organization: acme\n", "organization", "digits"),
    ("    endpoints: {bigquery: 'https://bigquery.googleapis.com'}\n", "endpoints", "unknown API 'bigquery'"),
    ("    endpoints: {logging: 'logging.googleapis.com'}\n", "endpoints", "http(s) base URL"),
    ("    services: [gke]\n", "services", "unknown service 'gke'"),
    ("    audit_log_lookback_days: 500\n", "audit_log_lookback_days", "400"),
    ("    project: acme\n", "project", "unknown key"),
])
def test_bad_keys_are_one_clear_error(tmp_path: Path, options: str, field: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config(tmp_path, options))
    message = str(info.value)
    assert f"sources[0].{field}" in message and text in message and "annexa.yaml:4" in message
