"""The Helm chart in deploy/helm/annexa: lint, render, validate the rendered manifests."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

from tests.deploy.deploy_paths import CHART, DEPLOY
from tests.deploy.k8s import (
    KUBE_VERSIONS,
    annexa_command,
    crd_errors,
    is_crd,
    load_docs,
    security_errors,
    validate_manifests,
    workloads,
)
from tests.deploy.promql import rule_groups

ALL_FEATURES = CHART / "ci" / "all-features-values.yaml"
EXISTING_SECRET = CHART / "ci" / "existing-secret-values.yaml"
ALL_ON = [
    "--set",
    "serviceMonitor.enabled=true",
    "--set",
    "prometheusRule.enabled=true",
    "--set",
    "dashboards.enabled=true",
]

#: name -> extra `helm` arguments; each combination is linted, rendered and validated.
VALUE_SETS = {
    "default": [],
    "all-features-4-shards": ["-f", str(ALL_FEATURES)],
    "existing-secret-no-exporter": ["-f", str(EXISTING_SECRET)],
    "defaults-monitoring-on": ALL_ON,
}


@cache
def _render(helm: str, args: tuple[str, ...]) -> str:
    proc = subprocess.run(
        [helm, "template", "rel", str(CHART), "--namespace", "compliance", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def render(helm: str, *args: str) -> list[dict]:
    return load_docs(_render(helm, tuple(args)))


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{len(matches)} {kind} {name or ''}"
    return matches[0]


def kinds(docs: list[dict]) -> list[str]:
    return sorted(d["kind"] for d in docs)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint(helm: str, name: str) -> None:
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), *VALUE_SETS[name]], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("version", KUBE_VERSIONS, ids=lambda v: f"k8s-{v or 'latest'}")
@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_validate(helm: str, kubernetes_validate: str, name: str, version: str | None) -> None:
    docs = render(helm, *VALUE_SETS[name])
    builtin = [d for d in docs if not is_crd(d)]
    ok, output = validate_manifests(kubernetes_validate, builtin, version)
    assert ok, output
    for doc in docs:
        if is_crd(doc):
            assert crd_errors(doc) == [], doc["kind"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_workloads_are_hardened(helm: str, name: str) -> None:
    docs = render(helm, *VALUE_SETS[name])
    found = list(workloads(docs))
    assert found
    for doc, template in found:
        assert security_errors(doc, template) == []
        if template["metadata"]["labels"]["app.kubernetes.io/component"] != "database":
            assert template["spec"]["serviceAccountName"]
        assert "checksum/config" in template["metadata"]["annotations"]
    for doc in docs:
        assert doc["metadata"].get("namespace") in (None, "monitoring"), "only dashboards may pick a namespace"


def test_default_render(helm: str) -> None:
    docs = render(helm)
    assert kinds(docs) == sorted(
        ["ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "CronJob", "CronJob", "Job", "Deployment",
         "Service", "Service", "StatefulSet", "Secret"]
    )
    cronjob = find(docs, "CronJob", "rel-annexa-run")
    assert cronjob["spec"]["schedule"] == "0 */6 * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert "completionMode" not in job
    container = job["template"]["spec"]["containers"][0]
    assert container["args"] == ["--config", "/etc/annexa/annexa.yaml", "run"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert container["image"] == f"ghcr.io/annexa/annexa:{chart['appVersion']}"
    migration = find(docs, "Job")
    assert migration["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert annexa_command(migration["spec"]["template"]["spec"]["containers"][0]["args"]) == ["db", "upgrade"]
    exporter = find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert annexa_command(exporter["args"]) == ["metrics", "serve", "--listen", "0.0.0.0:9464"]
    assert exporter["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert exporter["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = yaml.safe_load(find(docs, "ConfigMap")["data"]["annexa.yaml"])
    assert config["metrics"]["listen"].endswith(f":{exporter['ports'][0]['containerPort']}")
    assert find(docs, "PersistentVolumeClaim")["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def _store_refs(docs: list[dict]) -> dict[str, dict]:
    """Workload name -> the ANNEXA_STORE_URL reference of its annexa container (every workload running annexa)."""
    refs = {}
    for doc, template in workloads(docs):
        for c in template["spec"]["containers"]:
            if c["name"] != "annexa":
                continue
            env = {e["name"]: e for e in c.get("env", [])}
            assert "ANNEXA_STORE_URL" in env, f"{doc['kind']}/{doc['metadata']['name']} has no shared store"
            refs[f"{doc['kind']}/{doc['metadata']['name']}"] = env["ANNEXA_STORE_URL"]["valueFrom"]["secretKeyRef"]
    return refs


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_workload_points_at_the_same_store(helm: str, name: str) -> None:
    """The CronJob, the exporter and the migration Job read one store URL from one Secret (never a private SQLite)."""
    docs = render(helm, *VALUE_SETS[name])
    refs = _store_refs(docs)
    assert "CronJob/rel-annexa-run" in refs and "CronJob/rel-annexa-verify" in refs, refs
    assert len({(r["name"], r["key"]) for r in refs.values()}) == 1, refs


def test_scheduled_store_verification(helm: str) -> None:
    """A daily `annexa verify --store` against the collection's store; disabled by `verify.enabled=false`."""
    docs = render(helm)
    verify = find(docs, "CronJob", "rel-annexa-verify")
    assert verify["spec"]["schedule"] == "30 3 * * *"
    pod = verify["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert annexa_command(pod["containers"][0]["args"]) == ["verify", "--store"]
    run_pod = find(docs, "CronJob", "rel-annexa-run")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [v for v in pod["volumes"] if v["name"] == "evidence"] == \
           [v for v in run_pod["volumes"] if v["name"] == "evidence"]
    assert "envFrom" not in pod["containers"][0]  # no source tokens: it reads only the store
    off = render(helm, "--set", "verify.enabled=false")
    assert [d["metadata"]["name"] for d in off if d["kind"] == "CronJob"] == ["rel-annexa-run"]


def test_default_install_runs_its_own_postgresql(helm: str) -> None:
    import base64

    docs = render(helm)
    ref = next(iter(_store_refs(docs).values()))
    secret = find(docs, "Secret", ref["name"])
    url = base64.b64decode(secret["data"][ref["key"]]).decode()
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert url == f"postgresql+psycopg://annexa:{password}@rel-annexa-postgresql:5432/annexa" and len(password) == 40
    service = find(docs, "Service", "rel-annexa-postgresql")
    pg = find(docs, "StatefulSet", "rel-annexa-postgresql")
    assert service["spec"]["selector"] == pg["spec"]["template"]["metadata"]["labels"] | service["spec"]["selector"]
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    env = {e["name"]: e for e in pg["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": ref["name"], "key": "password"}
    migrate = find(docs, "Job")["spec"]["template"]["spec"]
    assert [c["name"] for c in migrate["initContainers"]] == ["wait-for-store"]


def test_external_store_means_no_chart_postgresql(helm: str) -> None:
    docs = render(helm, "--set", "store.url=postgresql+psycopg://u:p@db.example:5432/annexa")
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    assert {r["name"] for r in _store_refs(docs).values()} == {"rel-annexa-store"}


def test_no_shared_store_is_refused(helm: str) -> None:
    proc = subprocess.run([helm, "template", "rel", str(CHART), "--set", "postgresql.enabled=false"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Annexa needs one store shared by all its pods" in proc.stderr


def test_all_features_with_four_shards(helm: str) -> None:
    docs = render(helm, "-f", str(ALL_FEATURES))
    assert kinds(docs) == sorted(
        [
            "ServiceAccount",
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
            "CronJob",
            "CronJob",
            "Job",
            "Deployment",
            "Service",
            "ServiceMonitor",
            "PrometheusRule",
            "ConfigMap",
            "ConfigMap",
        ]
    )
    job = find(docs, "CronJob", "rel-annexa-run")["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == 4 and job["parallelism"] == 2
    container = job["template"]["spec"]["containers"][0]
    assert annexa_command(container["args"]) == ["run", "--shard", "$(JOB_COMPLETION_INDEX)/4", "--fail-on", "fail"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"].endswith("job-completion-index']")
    assert env["ANNEXA_STORE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "rel-annexa-store",
        "key": "ANNEXA_STORE_URL",
    }
    assert env["GITHUB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "annexa-tokens", "key": "github-token"}
    assert env["OKTA_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert container["envFrom"] == [{"secretRef": {"name": "annexa-saas-tokens"}}]
    pod = job["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["spec"]["affinity"]
    # tokens only where sources are collected, not in the exporter or the migration Job
    for kind in ("Deployment", "Job"):
        other = find(docs, kind)["spec"]["template"]["spec"]["containers"][0]
        assert "GITHUB_TOKEN" not in {e["name"] for e in other.get("env", [])}
        assert "envFrom" not in other
    sa = find(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    secret = find(docs, "Secret")
    assert set(secret["data"]) == {"ANNEXA_STORE_URL"}
    config = find(docs, "ConfigMap", "rel-annexa")
    assert "soa.yaml" in config["data"]
    pvc = find(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "efs"
    monitor = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = find(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    rules = find(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    stale = next(r for r in rules if r.get("alert") == "AnnexaSourceStale")
    assert stale["expr"].endswith("> 86400")
    assert stale["labels"] == {"severity": "warning", "team": "compliance"}
    assert rules[-1]["alert"] == "AnnexaTooManyCriticalFindings"
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]
    assert len(dashboards) == 2 and all(d["metadata"]["namespace"] == "monitoring" for d in dashboards)


def test_existing_secret_and_no_persistence(helm: str) -> None:
    docs = render(helm, "-f", str(EXISTING_SECRET))
    assert kinds(docs) == ["ConfigMap", "CronJob", "CronJob"]
    pod = find(docs, "CronJob", "rel-annexa-run")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"].endswith(":1.2.3")
    env = {e["name"]: e for e in container["env"]}
    assert env["ANNEXA_STORE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "annexa-store", "key": "url"}
    assert pod["serviceAccountName"] == "annexa-irsa"
    evidence = next(v for v in pod["volumes"] if v["name"] == "evidence")
    assert evidence == {"name": "evidence", "emptyDir": {}}


@pytest.mark.parametrize("shards", [0, 1])
def test_zero_or_one_shard_is_a_plain_cronjob(helm: str, shards: int) -> None:
    docs = render(helm, "--set", f"run.shards={shards}")
    job = find(docs, "CronJob", "rel-annexa-run")["spec"]["jobTemplate"]["spec"]
    assert "completionMode" not in job
    assert "--shard" not in job["template"]["spec"]["containers"][0]["args"]


def test_default_prometheusrule_is_alerts_yaml(helm: str) -> None:
    """The chart's rule template and deploy/prometheus/alerts.yaml stay the same rules."""
    rule = find(render(helm, *ALL_ON), "PrometheusRule")
    source = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    assert rule_groups(rule) == rule_groups(source)


def test_prometheusrule_thresholds_follow_values(helm: str) -> None:
    rule = find(
        render(
            helm,
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.sourceStaleSeconds=3600",
            "--set",
            "prometheusRule.evidenceStaleSeconds=7200",
            "--set",
            "prometheusRule.manualEvidenceExpiryDays=14",
            "--set",
            "prometheusRule.sourceNeverSucceededFor=2h",
            "--set",
            "prometheusRule.sourceDegradedFor=25h",
            "--set",
            "prometheusRule.storeNeverVerifiedFor=50h",
            "--set",
            "prometheusRule.exporterJobRegex=compliance-exporter",
            "--set",
            "prometheusRule.runbookBaseUrl=https://wiki.example.com/annexa",
        ),
        "PrometheusRule",
    )
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert rules["AnnexaSourceStale"]["expr"].endswith("> 3600")
    assert "> 7200" in rules["AnnexaEvidenceStale"]["expr"]
    assert rules["AnnexaManualEvidenceExpiring"]["expr"].endswith(f"< {14 * 86400}")
    assert 'up{job=~"compliance-exporter"}' in rules["AnnexaExporterDown"]["expr"]
    assert rules["AnnexaSourceNeverSucceeded"]["for"] == "2h"
    assert rules["AnnexaSourceDegraded"]["for"] == "25h"
    assert rules["AnnexaStoreNeverVerified"]["for"] == "50h"
    assert (
        rules["AnnexaSourceStale"]["annotations"]["runbook_url"] == "https://wiki.example.com/annexa#annexasourcestale"
    )


def test_chart_dashboards_are_the_grafana_files(helm: str) -> None:
    docs = render(helm, *ALL_ON)
    shipped = {}
    for cm in docs:
        if cm["kind"] == "ConfigMap" and cm["metadata"]["labels"].get("grafana_dashboard") == "1":
            shipped.update(cm["data"])
    files = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (DEPLOY / "grafana").glob("*.json")}
    assert {k: json.loads(v) for k, v in shipped.items()} == files


@pytest.mark.parametrize(
    "bad",
    [
        ["--set", "run.shards=-1"],
        ["--set", "run.schedule=every day"],
        ["--set", "image.pullPolicy=Sometimes"],
        ["--set", "persistence.accessModes={ReadWriteSometimes}"],
        ["--set", "run.sharding=4"],  # misspelt key
        ["--set", "extraEnvFromSecrets[0].name=GITHUB_TOKEN"],  # no secretName/key
    ],
    ids=lambda a: a[-1],
)
def test_schema_rejects_bad_values(helm: str, bad: list[str]) -> None:
    proc = subprocess.run([helm, "template", "rel", str(CHART), *bad], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "schema" in proc.stderr.lower() or "values don't meet" in proc.stderr.lower(), proc.stderr


def test_values_schema_is_json_schema_and_covers_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("http://json-schema.org/")
    assert set(values) <= set(schema["properties"])


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "annexa" and chart["type"] == "application"
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["image"]["tag"] == "", "the tag must default to appVersion"
    CronTrigger.from_crontab(values["run"]["schedule"], timezone="UTC")
    for path in (ALL_FEATURES,):
        CronTrigger.from_crontab(yaml.safe_load(path.read_text(encoding="utf-8"))["run"]["schedule"], timezone="UTC")
    for source in yaml.safe_load(values["config"])["sources"]:
        CronTrigger.from_crontab(source["schedule"], timezone="UTC")


def test_more_shards_than_sources_is_refused(helm: str, tmp_path: Path) -> None:
    config = tmp_path / "okta.yaml"
    config.write_text(yaml.safe_dump({"config": yaml.safe_dump({"sources": [
        {"name": "okta", "type": "okta", "schedule": "0 * * * *"}]})}), encoding="utf-8")
    proc = subprocess.run(
        [helm, "template", "rel", str(CHART), "-f", str(config), "--set", "run.shards=4"],
        capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "run.shards=4 but config lists 1 source(s) and none is AWS, Azure, GCP or GitHub" in proc.stderr


def test_an_aws_source_is_split_between_more_shards_than_sources(helm: str) -> None:
    docs = render(helm, "--set", "run.shards=4")  # the default config: one AWS source, split inside
    job = find(docs, "CronJob", "rel-annexa-run")["spec"]["jobTemplate"]["spec"]
    assert job["completions"] == 4 and job["completionMode"] == "Indexed"
    assert "$(JOB_COMPLETION_INDEX)/4" in job["template"]["spec"]["containers"][0]["args"]


def install_notes(helm: str, *args: str) -> str:
    proc = subprocess.run(
        [helm, "install", "rel", str(CHART), "--dry-run=client", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def test_notes_name_the_store_and_warn_about_rwo_shards(helm: str) -> None:
    notes = install_notes(
        helm, "-f", str(ALL_FEATURES), "--set", "store.url=", "--set", "persistence.accessModes={ReadWriteOnce}"
    )
    assert "--shard K/4" in notes
    assert "Store: the chart's PostgreSQL" in notes
    assert "WARNING: 4 shards run in parallel but the evidence volume is ReadWriteOnce" in notes
    assert "WARNING" not in install_notes(helm, "-f", str(ALL_FEATURES))


def test_crd_schema_check_catches_what_the_api_server_would_reject() -> None:
    """The schema check is real: a wrong type and an unknown field in a ServiceMonitor are both reported."""
    from tests.deploy.k8s import crd_schema_errors

    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "endpoints": [{"port": "metrics", "interval": 30, "scrapeTimout": "10s"}]}}
    errors = crd_schema_errors(bad)
    assert any("interval" in e and "string" in e for e in errors), errors
    assert any("scrapeTimout: unknown field" in e for e in errors), errors
