#!/usr/bin/env bash
# Measure our IdP with kenpo-bench: a fresh database, realms `bench` (default hash) and
# `bench-min` (password.hash=argon2id-min), RS256 and ES256 clients and USERS members created
# through the admin CLI, the IdP pinned to SERVER_CPUS, the driver to DRIVER_CPUS, then
# W1-W7 and W9 at every concurrency.
#
#   bench/run-kenpo.sh                                  # SQLite in a temp folder
#   DB=postgres://u:p@127.0.0.1/kenpo_bench bench/run-kenpo.sh   # an EMPTY PostgreSQL database
#
# Settings: PORT (28080) SERVER_CPUS (0) DRIVER_CPUS (1) DURATION (10s) WARMUP (3s)
#           CONCURRENCY (16,64) USERS (50) WORKLOADS (all) RESULTS_DIR (~/.cache/kenpo-perf-results)
#           IDP_BIN / BENCH_BIN (binaries; default: built in release mode)
#           START (start-dev) the kenpo-idp command that serves; EXTRA (more kenpo-bench options)
# With W5 or W7 in the run, `kenpo-idp hash-cost` prints t_hash (one argon2id check on the
# server's CPU) before and after: W5's bar is 90 % of 1/t_hash.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${PORT:-28080}"
results="${RESULTS_DIR:-$HOME/.cache/kenpo-perf-results}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
target="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target-release}"
build=()
[[ -n "${IDP_BIN:-}" ]] || build+=(-p kenpo-idp)
[[ -n "${BENCH_BIN:-}" ]] || build+=(-p kenpo-bench)
if (( ${#build[@]} )); then
  CARGO_TARGET_DIR="$target" cargo build --release "${build[@]}" --manifest-path "$repo/Cargo.toml" >&2
fi
idp="${IDP_BIN:-$target/release/kenpo-idp}"
bench="${BENCH_BIN:-$target/release/kenpo-bench}"
tmp="$(mktemp -d)"
db="${DB:-sqlite://$tmp/bench.sqlite}"
read -r -a extra <<< "${EXTRA:-}"
issuer="http://127.0.0.1:$port/realms/bench"
issuer_min="http://127.0.0.1:$port/realms/bench-min"
common=(--issuer "$issuer" --issuer-min "$issuer_min" --users "${USERS:-50}")
pid=""

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$idp" --db "$db" migrate >&2
"$bench" "${common[@]}" --setup-kenpo "$idp" --db "$db" --setup-only
taskset -c "${SERVER_CPUS:-0}" "$idp" --db "$db" "${START:-start-dev}" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
  > "$results/kenpo-idp-$stamp.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$issuer/.well-known/openid-configuration" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "kenpo-idp exited; log:" >&2; cat "$results/kenpo-idp-$stamp.log" >&2; exit 1; }
  sleep 0.1
done
echo "idle RSS: $(awk '/VmRSS/ {print $2" "$3}' "/proc/$pid/status")" >&2
wl=()
[[ -z "${WORKLOADS:-}" ]] || wl=(--workloads "$WORKLOADS")
# W5's bar is a share of 1/t_hash on this machine at this time (shared hosts drift): measure
# t_hash on the server's CPU, while the IdP is idle, before and after the run.
hash_cost() {
  if [[ -z "${WORKLOADS:-}" || ",$WORKLOADS," == *,w5,* || ",$WORKLOADS," == *,w7,* ]]; then
    echo "t_hash $1 the run (CPU ${SERVER_CPUS:-0}): $(taskset -c "${SERVER_CPUS:-0}" "$idp" hash-cost --seconds 3)"
  fi
}
hash_cost before
taskset -c "${DRIVER_CPUS:-1}" "$bench" "${common[@]}" --server-pid "$pid" --expect-rotation \
  --cc-client-es256 bench-client-es256 \
  --duration "${DURATION:-10s}" --warmup "${WARMUP:-3s}" --concurrency "${CONCURRENCY:-16,64}" \
  --json "$results/kenpo-bench-kenpo-$stamp.json" "${wl[@]}" "${extra[@]}"
hash_cost after
echo "JSON: $results/kenpo-bench-kenpo-$stamp.json; server log: $results/kenpo-idp-$stamp.log" >&2
