#!/usr/bin/env bash
# The one command that runs every test: ./scripts/test.sh
#
# Installs or starts what the tests need when it is missing (a CI machine may be brand new):
#   - PostgreSQL: uses 127.0.0.1:5432 when it answers; otherwise starts a throwaway server
#     from the local PostgreSQL binaries (installing them with apt-get when possible); when
#     neither works it says plainly that the PostgreSQL tests were NOT run.
#   - Chromium (headless, for the browser tests): installs Debian's `chromium` package with
#     apt-get when it is missing; says plainly when it could not be installed.
# Builds go to $CARGO_TARGET_DIR (default: ~/.cache/kenpo-target, outside the clone, so that
# CI on the same machine reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=1

log() { printf '== %s\n' "$*"; }

pg_up() { # $1 = URL
  command -v psql >/dev/null 2>&1 && psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

ensure_postgres() {
  local url="${KENPO_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! command -v psql >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing the PostgreSQL client and server (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  fi
  if pg_up "$url"; then
    export KENPO_TEST_PG="$url" KENPO_REQUIRE_POSTGRES=1
    log "PostgreSQL: using $url"
    return
  fi
  # A cluster installed but stopped (the usual state of a fresh Debian machine).
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && [ "$(id -u)" = 0 ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true; done
    sleep 2
    if pg_up "$url"; then
      export KENPO_TEST_PG="$url" KENPO_REQUIRE_POSTGRES=1
      log "PostgreSQL: started the local cluster, using $url"
      return
    fi
  fi
  # A throwaway server in a temp dir, owned by an unprivileged user when we are root.
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$bindir" ] && [ -x "$bindir/initdb" ]; then
    local dir port=55432 runas=()
    dir=$(mktemp -d /tmp/kenpo-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir" 2>/dev/null && runas=(su postgres -s /bin/sh -c); fi
    local init="$bindir/initdb -D $dir/data -A trust -U postgres >/dev/null"
    local start="$bindir/pg_ctl -D $dir/data -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l $dir/log -w start >/dev/null"
    if [ ${#runas[@]} -gt 0 ]; then "${runas[@]}" "$init && $start"; else sh -c "$init && $start"; fi
    url="postgres://postgres@127.0.0.1:$port/postgres"
    if pg_up "$url"; then
      export KENPO_TEST_PG="$url" KENPO_REQUIRE_POSTGRES=1
      local stop="$bindir/pg_ctl -D $dir/data -m immediate stop"
      if [ ${#runas[@]} -gt 0 ]; then
        trap "su postgres -s /bin/sh -c '$stop' >/dev/null 2>&1; rm -rf $dir" EXIT
      else
        trap "$stop >/dev/null 2>&1; rm -rf $dir" EXIT
      fi
      log "PostgreSQL: started a throwaway server at $url"
      return
    fi
  fi
  unset KENPO_REQUIRE_POSTGRES
  log "PostgreSQL tests NOT run: no server reachable and none could be started"
}

ensure_chromium() {
  if [ -n "${KENPO_CHROMIUM:-}" ] && [ -x "$KENPO_CHROMIUM" ]; then
    log "Chromium: using $KENPO_CHROMIUM"
    return
  fi
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing Chromium for the browser tests (apt-get)"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) || true
  fi
  if command -v chromium >/dev/null 2>&1; then
    log "Chromium: using $(command -v chromium)"
  else
    log "Chromium could NOT be installed: the browser tests will fail (install Debian's chromium package or set KENPO_CHROMIUM)"
  fi
}

ensure_postgres
ensure_chromium
log "cargo test --workspace (target dir: $CARGO_TARGET_DIR)"
test_log=$(mktemp)
cargo test --workspace --locked "$@" 2>&1 | tee "$test_log"
log "load driver smoke run: every workload for a moment against a fresh IdP (no speed assertions)"
cargo build --locked -p kenpo-idp -p kenpo-bench
smoke_dir=$(mktemp -d)
IDP_BIN="$CARGO_TARGET_DIR/debug/kenpo-idp" BENCH_BIN="$CARGO_TARGET_DIR/debug/kenpo-bench" \
  DURATION=1s WARMUP=0s CONCURRENCY=4 USERS=4 PORT="${SMOKE_PORT:-28181}" RESULTS_DIR="$smoke_dir" \
  EXTRA="--fail-on-errors --storm-login-concurrency 4 --storm-cc-concurrency 2" \
  bench/run-kenpo.sh
rm -rf "$smoke_dir"
if [ -z "${KENPO_REQUIRE_POSTGRES:-}" ]; then
  log "REMINDER: PostgreSQL tests were NOT run (see above)"
fi
# One closing line over every test binary (cargo prints one "test result" per binary, the last
# of which is often a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$test_log"
rm -f "$test_log"
