"""Kubernetes manifest helpers for the deploy tests: loading, kubernetes-validate, CRD checks."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

#: Custom resources that kubernetes-validate has no schema for; checked by ``crd_errors``.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}

#: Oldest Kubernetes the manifests and chart support (Chart.yaml kubeVersion), and the newest
#: kubernetes-validate knows (None = its default).
KUBE_VERSIONS = ("1.29.0", None)

DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")


def load_docs(source: str | Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file (Path) or of a string."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    return [d for d in yaml.safe_load_all(text) if d]


def is_crd(doc: dict[str, Any]) -> bool:
    return (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS


def validate_manifests(binary: str, docs: Iterable[dict[str, Any]], version: str | None = None) -> tuple[bool, str]:
    """Run ``kubernetes-validate --strict`` on *docs* (built-in kinds only).

    Returns (ok, output). ok requires exit code 0, no ERROR line, and one "passed" line per
    document: a kind the tool has no schema for (a typo in apiVersion) only warns, and must
    not pass silently.
    """
    docs = list(docs)
    with tempfile.TemporaryDirectory(prefix="annexa-kv-") as tmp:
        files = []
        for i, doc in enumerate(docs):
            path = Path(tmp) / f"{i:02d}-{doc.get('kind', 'x')}-{doc.get('metadata', {}).get('name', 'x')}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            files.append(str(path))
        cmd = [binary, "--strict"] + (["-k", version] if version else []) + files
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    passed = sum(1 for line in output.splitlines() if " passed for resource " in line)
    ok = proc.returncode == 0 and "ERROR" not in output and passed == len(docs)
    return ok, output


# -- custom resources ----------------------------------------------------------------------
_SM_SPEC_KEYS = {
    "selector",
    "endpoints",
    "namespaceSelector",
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "sampleLimit",
    "targetLimit",
    "labelLimit",
    "labelNameLengthLimit",
    "labelValueLengthLimit",
    "attachMetadata",
    "scrapeProtocols",
    "scrapeClass",
    "bodySizeLimit",
    "keepDroppedTargets",
}
_SM_ENDPOINT_KEYS = {
    "port",
    "targetPort",
    "path",
    "scheme",
    "params",
    "interval",
    "scrapeTimeout",
    "tlsConfig",
    "bearerTokenFile",
    "bearerTokenSecret",
    "authorization",
    "honorLabels",
    "honorTimestamps",
    "trackTimestampsStaleness",
    "basicAuth",
    "oauth2",
    "metricRelabelings",
    "relabelings",
    "proxyUrl",
    "followRedirects",
    "enableHttp2",
    "filterRunning",
}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_GROUP_KEYS = {"name", "interval", "rules", "partial_response_strategy", "limit", "query_offset", "labels"}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _meta_errors(doc: dict[str, Any]) -> list[str]:
    errors = []
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 253:
        errors.append(f"metadata.name {name!r} is not a valid resource name")
    for key in ("labels", "annotations"):
        for k, v in (meta.get(key) or {}).items():
            if not isinstance(v, str):
                errors.append(f"metadata.{key}.{k} must be a string, not {type(v).__name__}")
    extra = set(doc) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        errors.append(f"unknown top-level fields {sorted(extra)}")
    return errors


def servicemonitor_errors(doc: dict[str, Any]) -> list[str]:
    """Structural check of a ServiceMonitor against the monitoring.coreos.com/v1 CRD's shape."""
    errors = _meta_errors(doc)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [*errors, "spec missing"]
    if unknown := set(spec) - _SM_SPEC_KEYS:
        errors.append(f"spec: unknown fields {sorted(unknown)}")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append("spec.selector must select something (matchLabels/matchExpressions)")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return [*errors, "spec.endpoints must be a non-empty list"]
    for i, ep in enumerate(endpoints):
        if unknown := set(ep) - _SM_ENDPOINT_KEYS:
            errors.append(f"spec.endpoints[{i}]: unknown fields {sorted(unknown)}")
        if not isinstance(ep.get("port"), str) and "targetPort" not in ep:
            errors.append(f"spec.endpoints[{i}]: needs a named port")
        for key in ("interval", "scrapeTimeout"):
            if key in ep and not DURATION.match(str(ep[key])):
                errors.append(f"spec.endpoints[{i}].{key} {ep[key]!r} is not a duration")
        for key in ("relabelings", "metricRelabelings"):
            if key in ep and not isinstance(ep[key], list):
                errors.append(f"spec.endpoints[{i}].{key} must be a list")
    return errors


def prometheusrule_errors(doc: dict[str, Any]) -> list[str]:
    """Structural check of a PrometheusRule against the monitoring.coreos.com/v1 CRD's shape."""
    errors = _meta_errors(doc)
    spec = doc.get("spec")
    if not isinstance(spec, dict) or set(spec) - {"groups"}:
        return [*errors, "spec must be {groups: [...]}"]
    groups = spec.get("groups")
    if not isinstance(groups, list) or not groups:
        return [*errors, "spec.groups must be a non-empty list"]
    names = [g.get("name") for g in groups]
    if len(set(names)) != len(names):
        errors.append(f"duplicate group names {names}")
    for g in groups:
        if unknown := set(g) - _GROUP_KEYS:
            errors.append(f"group {g.get('name')}: unknown fields {sorted(unknown)}")
        for j, rule in enumerate(g.get("rules") or []):
            where = f"group {g.get('name')} rule {j} ({rule.get('alert') or rule.get('record')})"
            if unknown := set(rule) - _RULE_KEYS:
                errors.append(f"{where}: unknown fields {sorted(unknown)}")
            if ("alert" in rule) == ("record" in rule):
                errors.append(f"{where}: needs exactly one of alert/record")
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                errors.append(f"{where}: expr must be a non-empty string")
            for key in ("for", "keep_firing_for"):
                if key in rule and not DURATION.match(str(rule[key])):
                    errors.append(f"{where}: {key} {rule[key]!r} is not a duration")
            for key in ("labels", "annotations"):
                for k, v in (rule.get(key) or {}).items():
                    if not isinstance(v, str):
                        errors.append(f"{where}: {key}.{k} must be a string")
            if "record" in rule and "annotations" in rule:
                errors.append(f"{where}: recording rules take no annotations")
    return errors


CRD_SCHEMAS = Path(__file__).resolve().parent / "fixtures" / "crds"
_CRD_FILES = {"ServiceMonitor": "servicemonitors.v1.json", "PrometheusRule": "prometheusrules.v1.json"}


def _strict_unknown_fields(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Fields the CRD schema does not declare (what `kubectl apply --validate=strict` rejects)."""
    errors: list[str] = []
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is not None and not extra and not schema.get("x-kubernetes-preserve-unknown-fields"):
            errors += [f"{where}.{k}: unknown field" for k in value if k not in props]
        for key, item in value.items():
            sub = (props or {}).get(key) or (extra if isinstance(extra, dict) else None)
            if sub:
                errors += _strict_unknown_fields(item, sub, f"{where}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _strict_unknown_fields(item, schema["items"], f"{where}[{i}]")
    return errors


def crd_schema_errors(doc: dict[str, Any]) -> list[str]:
    """Validate a custom resource against the real CRD's openAPIV3Schema (carried in fixtures/crds)."""
    import jsonschema

    crd = json.loads((CRD_SCHEMAS / _CRD_FILES[doc["kind"]]).read_text(encoding="utf-8"))
    if doc.get("apiVersion") != f"{crd['group']}/{crd['version']}":
        return [f"apiVersion {doc.get('apiVersion')!r}, the CRD serves {crd['group']}/{crd['version']}"]
    schema = crd["openAPIV3Schema"]
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    return errors + _strict_unknown_fields(doc, schema, doc["kind"])


def crd_errors(doc: dict[str, Any]) -> list[str]:
    if doc.get("kind") == "ServiceMonitor":
        return crd_schema_errors(doc) + servicemonitor_errors(doc)
    if doc.get("kind") == "PrometheusRule":
        return crd_schema_errors(doc) + prometheusrule_errors(doc)
    raise ValueError(f"not a known custom resource: {doc.get('apiVersion')} {doc.get('kind')}")


# -- workloads ---------------------------------------------------------------------------------
#: `annexa` options that come before the subcommand (click group options) and take a value.
GLOBAL_OPTIONS = {"--config", "--log-level", "--log-format"}


def annexa_command(args: list[str]) -> list[str]:
    """The subcommand and its arguments: *args* without the leading global options."""
    rest = list(args)
    while rest and rest[0] in GLOBAL_OPTIONS:
        rest = rest[2:]
    return rest


def global_options(args: list[str]) -> dict[str, str]:
    """The global options given before the subcommand."""
    found = {}
    rest = list(args)
    while rest and rest[0] in GLOBAL_OPTIONS:
        found[rest[0]] = rest[1]
        rest = rest[2:]
    return found


def containers(docs: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("Kind/name", container) for every container of every workload in *docs*."""
    for doc, template in workloads(docs):
        for c in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            yield f"{doc['kind']}/{doc['metadata']['name']}", c


def pod_template(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a CronJob, Job, Deployment, StatefulSet or DaemonSet (else None)."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    if kind in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
        return spec["template"]
    return None


def workloads(docs: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(document, pod template) for every workload in *docs*."""
    for doc in docs:
        template = pod_template(doc)
        if template is not None:
            yield doc, template


def security_errors(doc: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """What a pod template lacks of the hardening Annexa's image is built for."""
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    pod = template["spec"]
    errors = []
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        errors.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser") == 0:
        errors.append(f"{where}: runs as root")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        errors.append(f"{where}: no RuntimeDefault seccomp profile")
    if pod.get("automountServiceAccountToken") is not False:
        errors.append(f"{where}: mounts a Kubernetes API token it does not need")
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        sc = c.get("securityContext") or {}
        cw = f"{where} container {c['name']}"
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{cw}: root filesystem is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{cw}: allowPrivilegeEscalation is not false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            errors.append(f"{cw}: capabilities are not dropped (drop: [ALL])")
        if sc.get("privileged"):
            errors.append(f"{cw}: privileged")
        res = c.get("resources") or {}
        if not res.get("requests") or not (res.get("limits") or {}).get("memory"):
            errors.append(f"{cw}: needs resource requests and a memory limit")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        # Annexa writes /tmp and /var/lib/annexa and reads /etc/annexa; other containers (the chart's
        # PostgreSQL, a wait-for-store init container) need only what they write themselves.
        needed = ("/tmp", "/var/lib/annexa", "/etc/annexa") if c["name"] == "annexa" else ()
        if c["name"] == "postgresql":
            needed = ("/tmp", "/var/run/postgresql", "/var/lib/postgresql/data")
        for path in needed:
            if path not in mounts:
                errors.append(f"{cw}: {path} is not mounted (the root filesystem is read-only)")
    return errors
