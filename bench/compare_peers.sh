#!/usr/bin/env bash
# Annexa against ScoutSuite and Prowler on the same seeded moto account.
#
# Creates (once) a uv virtual environment per peer under ${ANNEXA_PEERS_DIR:-/tmp/annexa-peers},
# installed from PyPI at the pinned versions below, then runs bench/compare_peers.py with the
# current Python (the one with Annexa and moto installed) and writes bench/aws_peers_latest.json.
#
#   bench/compare_peers.sh [--no-prowler] [--only annexa|scoutsuite|prowler] [compare_peers.py options]
#
# Examples:
#   bench/compare_peers.sh --no-prowler                 # Annexa and ScoutSuite, medians of 3, +0 and +100 ms
#   bench/compare_peers.sh --only annexa --repeat 1     # Annexa alone
#   bench/compare_peers.sh --check bench/aws_detection_baseline.json   # detection and repeat check only
set -euo pipefail

SCOUTSUITE_VERSION="${SCOUTSUITE_VERSION:-5.14.0}"
PROWLER_VERSION="${PROWLER_VERSION:-5.46.0}"
PEERS_DIR="${ANNEXA_PEERS_DIR:-/tmp/annexa-peers}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"

prowler=1
only=""
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-prowler) prowler=0; shift ;;
    --only)
      [[ $# -ge 2 ]] || { echo "compare_peers.sh: --only needs annexa, scoutsuite or prowler" >&2; exit 2; }
      only="$2"; shift 2 ;;
    --only=*) only="${1#--only=}"; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done
case "$only" in
  ""|annexa|scoutsuite|prowler) ;;
  *) echo "compare_peers.sh: --only must be annexa, scoutsuite or prowler (got '$only')" >&2; exit 2 ;;
esac

want() {  # want TOOL: is TOOL part of this comparison?
  if [[ -n "$only" ]]; then [[ "$only" == "$1" ]]; return; fi
  [[ "$1" != prowler || "$prowler" == 1 ]]
}

command -v uv >/dev/null || { echo "compare_peers.sh: uv is needed to install the peers (pip install uv)" >&2; exit 2; }

peer_venv() {  # peer_venv NAME REQUIREMENT: a venv at $PEERS_DIR/NAME with REQUIREMENT installed
  local dir="$PEERS_DIR/$1"
  if [[ ! -f "$dir/.installed-$2" ]]; then
    echo "installing $2 into $dir" >&2
    rm -rf "$dir"
    uv venv -q --python 3.11 "$dir"
    VIRTUAL_ENV="$dir" uv pip install -q "$2"
    touch "$dir/.installed-$2"
  fi
}

check=0
for a in "${pass[@]}"; do [[ "$a" == --check* || "$a" == --baseline* ]] && check=1; done
if [[ "$check" == 1 ]]; then  # a detection check or baseline runs Annexa alone: no peer to install
  exec "$PYTHON" "$HERE/compare_peers.py" "${pass[@]}"
fi

args=()
if want scoutsuite; then
  peer_venv scoutsuite "scoutsuite==$SCOUTSUITE_VERSION"
  args+=(--scout "$PEERS_DIR/scoutsuite/bin/scout")
fi
if want prowler; then
  peer_venv prowler "prowler==$PROWLER_VERSION"
  args+=(--prowler "$PEERS_DIR/prowler/bin/prowler")
fi
if ! want annexa; then
  args+=(--no-annexa)
fi
has_json=0
for a in "${pass[@]}"; do [[ "$a" == --json* ]] && has_json=1; done
if [[ "$has_json" == 0 && -z "$only" ]]; then
  args+=(--json "$HERE/aws_peers_latest.json")
fi
exec "$PYTHON" "$HERE/compare_peers.py" "${args[@]}" "${pass[@]}"
