#!/usr/bin/env bash
# The one command that starts the IdP and the portal on a fresh machine: ./scripts/dev.sh
# IdP:    http://localhost:8080  (realm "demo", SQLite in ./data, demo client and member)
# Portal: http://localhost:8081  (signs in through the IdP; demo checkup results loaded)
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target}"
cargo build --release -p kenpo-idp -p kenpo-portal
mkdir -p data
"$CARGO_TARGET_DIR/release/kenpo-idp" --db sqlite://data/kenpo-idp.db start-dev --listen 127.0.0.1:8080 &
idp=$!
trap 'kill $idp $portal 2>/dev/null || true' EXIT INT TERM
# The portal reads the IdP's discovery document at start: wait until the IdP answers.
for _ in $(seq 1 50); do
  curl -fsS http://localhost:8080/health/ready >/dev/null 2>&1 && break
  sleep 0.2
done
"$CARGO_TARGET_DIR/release/kenpo-portal" --db sqlite://data/kenpo-portal.db start-dev --listen 127.0.0.1:8081 &
portal=$!
echo
echo "  Portal:  http://localhost:8081   (log in as demo0001 / Kenpo!demo2026)"
echo "  IdP:     http://localhost:8080/realms/demo/.well-known/openid-configuration"
echo
wait $idp $portal
