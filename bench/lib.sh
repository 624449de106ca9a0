# Shared by bench/run-scale.sh and bench/run-memory.sh (sourced, not run): binaries, a
# throw-away PostgreSQL database, the IdP started pinned, its RSS, the postmaster's PID.
#
# Reads: IDP_BIN / BENCH_BIN (default: built in release mode into CARGO_TARGET_DIR, default
# ~/.cache/kenpo-target-release), PG_URL (postgres://postgres@127.0.0.1:5432: the server on
# which throw-away databases are created), SERVER_CPUS (0), RESULTS_DIR.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="${RESULTS_DIR:-$HOME/.cache/kenpo-perf-results}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
pg_server="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
pg_server="${pg_server%/}"
idp_pid=""
created_dbs=()

# Build (unless IDP_BIN / BENCH_BIN are given) and copy both binaries into folder $1.
build_bins() {
  local target="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target-release}" build=()
  [[ -n "${IDP_BIN:-}" ]] || build+=(-p kenpo-idp)
  [[ -n "${BENCH_BIN:-}" ]] || build+=(-p kenpo-bench)
  if (( ${#build[@]} )); then
    CARGO_TARGET_DIR="$target" cargo build --release "${build[@]}" --manifest-path "$repo/Cargo.toml" >&2
  fi
  idp="${IDP_BIN:-$target/release/kenpo-idp}"
  bench="${BENCH_BIN:-$target/release/kenpo-bench}"
  # Private copies in $1: a rebuild in the shared target folder during the run must not swap
  # the binary between the phases that are compared.
  cp "$idp" "$1/kenpo-idp"
  cp "$bench" "$1/kenpo-bench"
  idp="$1/kenpo-idp"
  bench="$1/kenpo-bench"
}

# A new, empty database kenpo_<purpose>_<stamp> on PG_URL's server; sets db (its URL).
create_pg_db() {
  local name
  name="kenpo_$1_$(tr '[:upper:]' '[:lower:]' <<< "$stamp")"
  psql "$pg_server/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $name" >&2
  created_dbs+=("$name")
  db="$pg_server/$name"
  echo "database $name created" >&2
}

# Drop every database create_pg_db made (KEEP_DB=1 keeps them).
drop_pg_dbs() {
  local name
  for name in "${created_dbs[@]}"; do
    if [[ -n "${KEEP_DB:-}" ]]; then
      echo "KEEP_DB: database $name kept ($pg_server/$name)" >&2
    else
      psql "$pg_server/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >&2 || true
      echo "database $name dropped" >&2
    fi
  done
  created_dbs=()
}

# The database name in $db (for kenpo-bench --db-name).
db_name() { local n="${db##*/}"; echo "${n%%\?*}"; }

# psql on the benchmark database: unaligned, tuples only, stop at the first error.
q() { psql "$db" -v ON_ERROR_STOP=1 -qAtX "$@"; }

# PID of the PostgreSQL postmaster (for kenpo-bench --db-pid), empty when not readable
# (a server on another machine or in a container).
postmaster_pid() {
  local dir pid
  dir="$(q -c "SHOW data_directory" 2>/dev/null || true)"
  pid="$(head -n1 "$dir/postmaster.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/stat" ]]; then echo "$pid"; fi
}

# Start `kenpo-idp --db $db ${START:-start-dev}` on 127.0.0.1:$port pinned to SERVER_CPUS;
# $1 names the log file. Sets idp_pid.
start_idp() {
  local log="$results/kenpo-idp-$1-$stamp.log"
  taskset -c "${SERVER_CPUS:-0}" "$idp" --db "$db" "${START:-start-dev}" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" > "$log" 2>&1 &
  idp_pid=$!
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/realms/bench/.well-known/openid-configuration" >/dev/null 2>&1 && return 0
    kill -0 "$idp_pid" 2>/dev/null || { echo "kenpo-idp exited; log:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "kenpo-idp did not answer within 15 s; log: $log" >&2
  exit 1
}

stop_idp() {
  if [[ -n "$idp_pid" ]] && kill -0 "$idp_pid" 2>/dev/null; then
    kill "$idp_pid"
    wait "$idp_pid" 2>/dev/null || true
  fi
  idp_pid=""
}

# Shared machines: wait until the machine has been at least 90 % idle over 5 s, for at most
# QUIET_WAIT (300) seconds (0: do not wait), so that a phase does not start during someone
# else's build. Nothing stops a build that starts later: read the "other CPU %" column.
wait_quiet() {
  local limit="${QUIET_WAIT:-300}" waited=0 a b i idle total
  while (( limit > 0 )); do
    read -r -a a < /proc/stat
    sleep 5
    read -r -a b < /proc/stat
    total=0
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    idle=$(( b[4] + b[5] - a[4] - a[5] ))
    if (( total <= 0 || idle * 100 >= 90 * total )); then return 0; fi
    (( waited == 0 )) && echo "waiting for the machine to be idle (at most ${limit} s; QUIET_WAIT=0 skips)" >&2
    waited=$(( waited + 5 ))
    if (( waited >= limit )); then echo "machine still busy after ${limit} s: measuring anyway" >&2; return 0; fi
  done
}

# VmRSS and VmHWM of the IdP in kB ("RSS HWM").
idp_mem_kb() {
  awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print r, h}' "/proc/$idp_pid/status"
}
