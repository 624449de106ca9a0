#!/usr/bin/env bash
# Measure the peer (panva's oidc-provider, in-memory; ../shared/perf/peer-oidc-provider) with
# kenpo-bench, server pinned to SERVER_CPUS, driver to DRIVER_CPUS. Four passes, each with a
# freshly started peer:
#   1. RS256, no login hashing        W1 W2 W3 W4 W5 W7   (its W5 is the reference for our W6)
#   2. login hashed with argon2id     W5 W7               (the reference for our W5 and W7)
#   3. refresh-token rotation on      W4 --expect-rotation (the reference for our W4)
#   4. PEER_ALG=ES256                 W3 ES256
#
#   bench/run-peer.sh
#
# Settings: PEER_PORT (3000) SERVER_CPUS (0) DRIVER_CPUS (1) DURATION (10s) WARMUP (3s)
#           CONCURRENCY (16,64) RESULTS_DIR (~/.cache/kenpo-perf-results) PASSES ("1 2 3 4")
#           SHARED_DIR (../shared beside the repository) BENCH_BIN (driver binary; default: built)
#           EXTRA (more kenpo-bench options, one word each)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED_DIR:-$repo/../shared}"
port="${PEER_PORT:-3000}"
server_cpus="${SERVER_CPUS:-0}"
driver_cpus="${DRIVER_CPUS:-1}"
results="${RESULTS_DIR:-$HOME/.cache/kenpo-perf-results}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
if [[ -z "${BENCH_BIN:-}" ]]; then
  target="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target-release}"
  CARGO_TARGET_DIR="$target" cargo build --release -p kenpo-bench --manifest-path "$repo/Cargo.toml" >&2
  BENCH_BIN="$target/release/kenpo-bench"
fi
dir="$("$shared/perf/peer-oidc-provider/setup.sh")"
read -r -a extra <<< "${EXTRA:-}"
pid=""

stop() { if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi; pid=""; }
trap stop EXIT

start() {  # environment for the peer, as NAME=value words
  stop
  env NODE_ENV=production PEER_PORT="$port" "$@" taskset -c "$server_cpus" "$dir/node" "$dir/provider.mjs" \
    > "$results/peer-$stamp.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "peer did not start; log:" >&2; cat "$results/peer-$stamp.log" >&2; exit 1
}

bench() {  # label, then kenpo-bench options
  local label="$1"; shift
  echo "== peer $label ($(grep -m1 listening "$results/peer-$stamp.log"))"
  taskset -c "$driver_cpus" "$BENCH_BIN" --issuer "http://127.0.0.1:$port" --server-pid "$pid" \
    --cc-scope api:read --duration "${DURATION:-10s}" --warmup "${WARMUP:-3s}" \
    --concurrency "${CONCURRENCY:-16,64}" --json "$results/kenpo-bench-peer-$label-$stamp.json" \
    "$@" "${extra[@]}"
}

for pass in ${PASSES:-1 2 3 4}; do
  case "$pass" in
    1) start PEER_LOGIN_HASH=none; bench rs256 --workloads w1,w2,w3,w4,w5,w7 ;;
    2) start PEER_LOGIN_HASH=argon2id; bench argon2id --workloads w5,w7 ;;
    3) start PEER_LOGIN_HASH=none PEER_REFRESH_ROTATION=1; bench rotation --workloads w4 --expect-rotation ;;
    4) start PEER_LOGIN_HASH=none PEER_ALG=ES256; bench es256 --workloads w3-es256 --cc-client-es256 bench-client ;;
    *) echo "unknown pass $pass" >&2; exit 2 ;;
  esac
done
echo "JSON results in $results/kenpo-bench-peer-*-$stamp.json" >&2
