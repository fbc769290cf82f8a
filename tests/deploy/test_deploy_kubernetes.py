"""The kustomize manifests in deploy/kubernetes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

from tests.deploy.deploy_paths import DEPLOY, KUSTOMIZE
from tests.deploy.k8s import (
    KUBE_VERSIONS,
    annexa_command,
    crd_errors,
    global_options,
    is_crd,
    load_docs,
    security_errors,
    validate_manifests,
    workloads,
)
from tests.deploy.promql import rule_groups

BASE = KUSTOMIZE / "base"
SHARDED = KUSTOMIZE / "sharded"
MANIFESTS = sorted(p for p in KUSTOMIZE.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = sorted(KUSTOMIZE.rglob("kustomization.yaml"))


def all_docs() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in MANIFESTS for doc in load_docs(path)]


def docs_of(directory: Path) -> list[dict]:
    """What `kubectl kustomize directory` would list, read without kustomize (resources only)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        docs += docs_of(target) if target.is_dir() else load_docs(target)
    deleted = set()
    for patch in kustomization.get("patches", []):
        body = yaml.safe_load(patch.get("patch", "") or "{}")
        if body.get("$patch") == "delete":
            deleted.add((body["kind"], body["metadata"]["name"]))
    return [d for d in docs if (d["kind"], d["metadata"]["name"]) not in deleted]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("version", KUBE_VERSIONS, ids=lambda v: f"k8s-{v or 'latest'}")
def test_every_manifest_validates_strictly(kubernetes_validate: str, version: str | None) -> None:
    docs = [doc for _, doc in all_docs() if not is_crd(doc)]
    assert len(docs) >= 10
    ok, output = validate_manifests(kubernetes_validate, docs, version)
    assert ok, output


def test_kubernetes_validate_rejects_an_unknown_field(kubernetes_validate: str) -> None:
    """--strict really is strict, so a pass above means something."""
    cronjob = by_kind(load_docs(BASE / "cronjob.yaml"), "CronJob")[0]
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["arg"] = ["typo"]
    ok, output = validate_manifests(kubernetes_validate, [cronjob], None)
    assert not ok and "arg" in output


def test_custom_resources_are_well_formed() -> None:
    crds = [(path, doc) for path, doc in all_docs() if is_crd(doc)]
    assert {doc["kind"] for _, doc in crds} == {"ServiceMonitor", "PrometheusRule"}
    for path, doc in crds:
        assert crd_errors(doc) == [], path


def test_crd_checker_finds_mistakes() -> None:
    sm = load_docs(BASE / "servicemonitor.yaml")[0]
    sm["spec"]["endpoints"][0]["intervall"] = "30s"
    sm["spec"]["endpoints"][0]["scrapeTimeout"] = "30 seconds"
    errors = crd_errors(sm)
    assert any("intervall" in e for e in errors) and any("scrapeTimeout" in e for e in errors)
    rule = load_docs(BASE / "prometheusrule.yaml")[0]
    rule["spec"]["groups"][0]["rules"][0]["for"] = 10
    rule["spec"]["groups"][0]["rules"][1]["record"] = "x"
    errors = crd_errors(rule)
    assert any("for 10" in e for e in errors) and any("exactly one of alert/record" in e for e in errors)


def test_servicemonitor_selects_the_exporter_service() -> None:
    docs = docs_of(BASE)
    monitor = by_kind(docs, "ServiceMonitor")[0]
    service = by_kind(docs, "Service")[0]
    deployment = by_kind(docs, "Deployment")[0]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"] for p in container["ports"]} >= port_names


def test_prometheusrule_is_alerts_yaml() -> None:
    generated = load_docs(BASE / "prometheusrule.yaml")[0]
    source = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    assert rule_groups(generated) == rule_groups(source)


def test_generated_files_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "generate.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_dashboard_configmaps_carry_the_dashboards() -> None:
    configmaps = load_docs(BASE / "grafana-dashboards.yaml")
    shipped = {}
    for cm in configmaps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        shipped.update(cm["data"])
    files = {p.name: p.read_text(encoding="utf-8") for p in (DEPLOY / "grafana").glob("*.json")}
    assert shipped == files


def test_manifests_are_namespace_agnostic() -> None:
    for path, doc in all_docs():
        assert "namespace" not in doc.get("metadata", {}), f"{path}: hard-coded namespace"
    for path in KUSTOMIZATIONS:
        assert "namespace" not in yaml.safe_load(path.read_text(encoding="utf-8")), path


def test_kustomizations_list_every_manifest_and_only_existing_ones() -> None:
    for path in KUSTOMIZATIONS:
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")).get("resources", []):
            assert (path.parent / entry).exists(), f"{path}: {entry} does not exist"
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))["resources"])
    unlisted = {p.name for p in BASE.glob("*.yaml")} - listed - {"kustomization.yaml"}
    assert unlisted == {"secret.example.yaml"}, "placeholder Secrets must never be applied by accident"


def test_base_contents() -> None:
    docs = docs_of(KUSTOMIZE)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ConfigMap",
            "ConfigMap",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Job",
            "CronJob",
            "CronJob",
            "Deployment",
            "Service",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )
    job = by_kind(docs, "Job")[0]
    assert annexa_command(job["spec"]["template"]["spec"]["containers"][0]["args"]) == ["db", "upgrade"]
    deployment = by_kind(docs, "Deployment")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert annexa_command(container["args"]) == ["metrics", "serve", "--listen", "0.0.0.0:9464"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = yaml.safe_load(by_kind(docs, "ConfigMap")[0]["data"]["annexa.yaml"])
    assert config["metrics"]["listen"] == f"0.0.0.0:{container['ports'][0]['containerPort']}"
    assert config["store"]["evidence"] == "/var/lib/annexa/evidence"


def cronjob_named(docs: list[dict], name: str) -> dict:
    return next(c for c in by_kind(docs, "CronJob") if c["metadata"]["name"] == name)


def test_cronjob_runs_annexa_run_safely() -> None:
    cronjob = cronjob_named(docs_of(KUSTOMIZE), "annexa-run")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert annexa_command(container["args"]) == ["run"]
    assert global_options(container["args"]) == {"--config": "/etc/annexa/annexa.yaml"}
    env = {e["name"]: e for e in container["env"]}
    assert env["ANNEXA_STORE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "annexa-store"
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {by_kind(docs_of(KUSTOMIZE), "PersistentVolumeClaim")[0]["metadata"]["name"]}


def test_verify_cronjob_checks_the_same_store() -> None:
    """The daily `annexa verify --store` reads the store and evidence the collection writes."""
    docs = docs_of(KUSTOMIZE)
    run, verify = cronjob_named(docs, "annexa-run"), cronjob_named(docs, "annexa-verify")
    pods = [c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in (run, verify)]
    container = pods[1]["containers"][0]
    assert annexa_command(container["args"]) == ["verify", "--store"]
    assert global_options(container["args"]) == {"--config": "/etc/annexa/annexa.yaml"}
    env = [{e["name"]: e for e in p["containers"][0]["env"]}["ANNEXA_STORE_URL"] for p in pods]
    assert env[0] == env[1]
    claims = [{v["persistentVolumeClaim"]["claimName"] for v in p["volumes"] if "persistentVolumeClaim" in v}
              for p in pods]
    assert claims[0] == claims[1] != set()
    rules = verify["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and 1 in rules[0]["onExitCodes"]["values"]  # no retry of a failed check


def test_sharded_overlay_is_an_indexed_cronjob() -> None:
    docs = docs_of(SHARDED)
    cronjobs = by_kind(docs, "CronJob")
    names = sorted(c["metadata"]["name"] for c in cronjobs)
    assert names == ["annexa-run-sharded", "annexa-verify"], "base collection CronJob must be removed"
    spec = cronjob_named(docs, "annexa-run-sharded")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    n = job["completions"]
    assert n > 1 and 1 <= job["parallelism"] <= n
    container = job["template"]["spec"]["containers"][0]
    assert annexa_command(container["args"]) == ["run", "--shard", f"$(JOB_COMPLETION_INDEX)/{n}"]
    assert "JOB_COMPLETION_INDEX" in {e["name"] for e in container["env"]}
    # `annexa run --shard K/N` deals these sources out whole: a shard without one would only exit 0
    config = yaml.safe_load(by_kind(docs, "ConfigMap")[0]["data"]["annexa.yaml"])
    assert n <= len(config["sources"])


def test_workloads_are_hardened() -> None:
    found = list(workloads(doc for _, doc in all_docs()))
    assert len(found) == 5  # CronJob, verify CronJob, sharded CronJob, Job, Deployment
    for doc, template in found:
        assert security_errors(doc, template) == []
        assert template["spec"]["containers"][0]["image"].startswith("ghcr.io/annexa/annexa:")


def test_security_check_notices_a_regression() -> None:
    doc = by_kind(load_docs(BASE / "cronjob.yaml"), "CronJob")[0]
    template = doc["spec"]["jobTemplate"]["spec"]["template"]
    template["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    del template["spec"]["securityContext"]["runAsNonRoot"]
    errors = security_errors(doc, template)
    assert len(errors) == 2


def cron_schedules(collection_only: bool = False) -> list[tuple[str, str]]:
    found = []
    for path, doc in all_docs():
        if doc["kind"] == "CronJob" and not (collection_only and doc["metadata"]["name"] == "annexa-verify"):
            found.append((f"{path.name}", doc["spec"]["schedule"]))
        if doc["kind"] == "ConfigMap" and "annexa.yaml" in doc.get("data", {}):
            for source in yaml.safe_load(doc["data"]["annexa.yaml"]).get("sources", []):
                if "schedule" in source:
                    found.append((f"{path.name} source {source['name']}", source["schedule"]))
    return found


def test_cron_schedules_parse() -> None:
    schedules = cron_schedules()
    assert len(schedules) >= 4
    for _where, schedule in schedules:
        CronTrigger.from_crontab(schedule, timezone="UTC")  # raises ValueError when invalid
    with pytest.raises(ValueError):
        CronTrigger.from_crontab("0 */6 * *", timezone="UTC")


def longest_gap(schedule: str) -> timedelta:
    """The longest time between two consecutive runs of a cron schedule (over its next ten runs)."""
    trigger = CronTrigger.from_crontab(schedule, timezone="UTC")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    previous, gaps = None, []
    for _ in range(10):
        now = trigger.get_next_fire_time(previous, now)
        if previous:
            gaps.append(now - previous)
        previous, now = now, now + timedelta(seconds=1)
    return max(gaps)


def alert_rule(name: str) -> dict:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    return next(r for g in alerts["groups"] for r in g["rules"] if r.get("alert") == name)


def test_schedule_fits_the_source_stale_threshold() -> None:
    """AnnexaSourceStale fires after 12 h: the CronJob must run at least every 6 h (2 runs)."""
    stale = alert_rule("AnnexaSourceStale")
    threshold = timedelta(seconds=int(stale["expr"].rsplit(">", 1)[1]))
    for where, schedule in cron_schedules(collection_only=True):
        gap = longest_gap(schedule)
        assert gap * 2 <= threshold, f"{where}: {schedule} runs every {gap}"


def test_kustomize_builds(kubectl: str) -> None:
    for directory, cronjob in ((KUSTOMIZE, "annexa-run"), (SHARDED, "annexa-run-sharded")):
        proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        built = load_docs(proc.stdout)
        assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted(
            (d["kind"], d["metadata"]["name"]) for d in docs_of(directory)
        )
        assert sorted(d["metadata"]["name"] for d in by_kind(built, "CronJob")) == [cronjob, "annexa-verify"]
        images = {c["image"] for _, t in workloads(built) for c in t["spec"]["containers"]}
        assert images == {"ghcr.io/annexa/annexa:0.1.0"}
