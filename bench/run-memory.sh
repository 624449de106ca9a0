#!/usr/bin/env bash
# W8 extras (../shared/PERFORMANCE.md): the IdP's RSS before and after SESSIONS (10,000) more
# live SSO sessions, each created by a real login (W6: realm bench-min, minimal hash, a fresh
# cookie jar per login), and the database bytes those logins left per session.
#
#   bench/run-memory.sh                        # SQLite in a temp folder
#   BACKEND=postgres bench/run-memory.sh       # a database of its own on PG_URL's server, dropped after
#   DB=postgres://u:p@127.0.0.1/empty bench/run-memory.sh   # an EMPTY database you give (kept)
#
# Steps: migrate, setup (realms bench + bench-min, 50 members each), IdP pinned to
# SERVER_CPUS, untimed W6 logins for WARM (5s) so that the allocator and the pools reach their
# working size, snapshot (RSS, every table's rows and bytes), exactly SESSIONS W6 logins at
# CONCURRENCY (16) with `kenpo-bench --max-ops`, snapshot again; then BATCHES-1 (1) more
# batches of SESSIONS logins with the RSS after each (growth that stops after the first batch
# is caches and allocator, not sessions), and the RSS once more after 5 s idle. Bytes are pg_total_relation_size (heap + indexes + TOAST, dead rows included) on
# PostgreSQL, and the pages of each table and its indexes from the `dbstat` table on SQLite
# (the file sizes when dbstat is missing). "Per session" divides by the growth of sso_sessions.
#
# Settings: BACKEND (sqlite | postgres), DB, PG_URL, QUIET_WAIT (300), PORT (28082), SERVER_CPUS (0),
#           DRIVER_CPUS (1), SESSIONS (10000), BATCHES (2), CONCURRENCY (16), WARM (5s), IDP_BIN / BENCH_BIN,
#           START (start-dev), KEEP_DB, RESULTS_DIR, EXTRA (more driver options)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="${PORT:-28082}"
sessions="${SESSIONS:-10000}"
conc="${CONCURRENCY:-16}"
read -r -a extra <<< "${EXTRA:-}"
tmp="$(mktemp -d)"

cleanup() {
  stop_idp
  drop_pg_dbs
  rm -rf "$tmp"
}
trap cleanup EXIT

build_bins "$tmp"
if [[ -n "${DB:-}" ]]; then
  db="$DB"
elif [[ "${BACKEND:-sqlite}" == postgres ]]; then
  create_pg_db mem
else
  db="sqlite://$tmp/bench.sqlite"
fi
case "$db" in
  sqlite://*) kind=sqlite; file="${db#sqlite://}" ;;
  postgres://* | postgresql://*) kind=postgres ;;
  *) echo "unknown database URL $db" >&2; exit 2 ;;
esac
if [[ $kind == sqlite ]] && ! command -v sqlite3 >/dev/null; then
  echo "sqlite3 (the CLI) is needed to measure the database" >&2; exit 2
fi

issuer="http://127.0.0.1:$port/realms/bench"
issuer_min="http://127.0.0.1:$port/realms/bench-min"
"$idp" --db "$db" migrate >&2
"$bench" --issuer "$issuer" --issuer-min "$issuer_min" --users 50 --setup-kenpo "$idp" --db "$db" --setup-only
db_opt=()
if [[ $kind == postgres ]]; then
  db_pid="$(postmaster_pid)"
  [[ -z "$db_pid" ]] || db_opt=(--db-pid "$db_pid" --db-name "$(db_name)")
fi

# Every table: "name rows bytes", one a line, sorted by name.
snapshot_db() {
  if [[ $kind == postgres ]]; then
    q -F ' ' -c "SELECT c.relname,
        (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::bigint,
        pg_total_relation_size(c.oid)
      FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      WHERE ns.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
  else
    local tables parts=() t
    tables="$(sqlite3 "$file" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")"
    if sqlite3 "$file" "SELECT 1 FROM dbstat LIMIT 1" >/dev/null 2>&1; then
      for t in $tables; do
        parts+=("SELECT '$t', (SELECT count(*) FROM \"$t\"), (SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d
                 JOIN sqlite_master m ON m.name = d.name WHERE m.tbl_name = '$t')")
      done
    else
      for t in $tables; do parts+=("SELECT '$t', (SELECT count(*) FROM \"$t\"), 0"); done
    fi
    local sql
    sql="$(printf '%s UNION ALL ' "${parts[@]}")"
    sqlite3 -separator ' ' "$file" "${sql% UNION ALL } ORDER BY 1"
    # The files themselves, as pseudo-tables (not added to the per-table sum).
    echo "(file:db) 0 $(stat -c %s "$file")"
    echo "(file:wal) 0 $(stat -c %s "$file-wal" 2>/dev/null || echo 0)"
  fi
}

wait_quiet
start_idp "memory-$kind"
read -r idle_rss _ <<< "$(idp_mem_kb)"
common=(--issuer "$issuer" --issuer-min "$issuer_min" --users 50 --workloads w6 --concurrency "$conc"
  --warmup 0 --server-pid "$idp_pid" "${db_opt[@]}")
echo "== warm-up: W6 logins for ${WARM:-5s} at c=$conc" >&2
taskset -c "${DRIVER_CPUS:-1}" "$bench" "${common[@]}" --duration "${WARM:-5s}" "${extra[@]}" >&2
sleep 1
read -r rss0 _ <<< "$(idp_mem_kb)"
snapshot_db | LC_ALL=C sort > "$tmp/before"
batches="${BATCHES:-2}"
rss_after=()
for b in $(seq 1 "$batches"); do
  echo "== batch $b: $sessions W6 logins at c=$conc" >&2
  taskset -c "${DRIVER_CPUS:-1}" "$bench" "${common[@]}" --duration 120s --max-ops "$sessions" --no-check \
    --json "$tmp/batch-$b.json" "${extra[@]}" >&2
  read -r rss hwm <<< "$(idp_mem_kb)"
  rss_after+=("$rss")
  (( b > 1 )) || snapshot_db | LC_ALL=C sort > "$tmp/after"
done
sleep 5
read -r rss_idle_end _ <<< "$(idp_mem_kb)"
jq -s '{rows: (map(.rows) | add)}' "$tmp"/batch-*.json > "$results/kenpo-bench-memory-$kind-$stamp.json"

ok="$(jq '.rows[0].ok' "$tmp/batch-1.json")"
errors="$(jq '.rows[0].errors' "$tmp/batch-1.json")"
rate="$(jq '.rows[0].ok_per_sec | floor' "$tmp/batch-1.json")"
echo
echo "== W8 memory, $kind, $(date -u +%F): $ok W6 logins at c=$conc ($rate/s, $errors errors), then $(( batches - 1 )) more batch(es) of $sessions"
printf 'IdP RSS: idle %.1f MB; after the warm-up %.1f MB' "$(bc -l <<< "$idle_rss/1024")" "$(bc -l <<< "$rss0/1024")"
prev="$rss0"
for b in $(seq 1 "$batches"); do
  r="${rss_after[b-1]}"
  printf '; after batch %d %.1f MB (%+.0f bytes per session)' "$b" "$(bc -l <<< "$r/1024")" "$(bc -l <<< "($r - $prev) * 1024 / $sessions")"
  prev="$r"
done
printf '; 5 s later %.1f MB; peak %.1f MB\n' "$(bc -l <<< "$rss_idle_end/1024")" "$(bc -l <<< "$hwm/1024")"
LC_ALL=C join "$tmp/before" "$tmp/after" | awk -v r0="$rss0" -v r1="${rss_after[0]}" '
  { name[NR] = $1; dr[NR] = $4 - $2; db[NR] = $5 - $3; after_rows[NR] = $4; after_bytes[NR] = $5
    if ($1 == "sso_sessions") { s = $4 - $2; sd = $5 - $3; sb = $5; sr = $4 }
    if ($1 !~ /^\(file:/) total += $5 - $3 }
  END {
    if (s <= 0) { print "no new sessions: nothing to divide by"; exit 1 }
    printf "batch 1: %d new live sessions (sso_sessions rows); RSS per session %.0f bytes\n", s, (r1 - r0) * 1024 / s
    printf "DB bytes per session: %.0f (every table that grew), of which sso_sessions %.0f; sso_sessions now %d rows, %.0f bytes per row\n", total / s, sd / s, sr, (sr > 0 ? sb / sr : 0)
    print ""
    print "| table | new rows | new bytes | bytes per session |"
    print "|---|---:|---:|---:|"
    for (i = 1; i <= NR; i++) if (db[i] != 0 || dr[i] != 0)
      printf "| %s | %d | %d | %.0f |\n", name[i], dr[i], db[i], db[i] / s
  }'
