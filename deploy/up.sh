#!/usr/bin/env bash
# Runs the whole system on this machine, no Docker: installs what is missing,
# starts Kafka and PostgreSQL, prepares keys, topics, schemas, demo users and demo
# meter data, starts every service, then runs the demo scenario (the three Parlier
# houses replayed at EC_DEMO_SPEED simulated seconds per second, default 86400 =
# one simulated day per second) with a driver that acts as each role through the
# public APIs and prints what each sees.
#
#   deploy/up.sh            everything, then the demo in the foreground (Ctrl-C ends
#                           the demo driver; the system keeps running)
#   deploy/up.sh --no-demo  everything but the demo
#   deploy/down.sh          stop it all
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=deploy/lib/env.sh
. "$repo/deploy/lib/env.sh"
load_env
bin="$repo/.venv/bin"

step() { printf '\n== %s\n' "$*"; }

step "Python environment"
deploy/bootstrap.sh

step "Kafka and PostgreSQL"
deploy/infra.sh start

step "Keys, topics, schemas"
"$bin/energychain-keys" init
"$bin/energychain-topics"
for service in ledger billing escrow gsa-market; do
  "$bin/energychain-$service" migrate
done

step "Demo users, witnesses and demo meter data"
users_file=deploy/demo-users.json
[ -f "$users_file" ] || users_file=deploy/demo-users.example.json
"$bin/energychain-ledger" seed-users --file "$users_file"
deploy/witnesses.sh init
[ -f data/generated/demo/manifest.json ] || "$bin/energychain-meter-ingest" generate-demo

step "Web apps"
[ -x web/build.sh ] && web/build.sh

step "Services"
deploy/services.sh start
"$bin/energychain" wait-ready --timeout 120

echo
echo "EnergyChain is running. Web apps: http://127.0.0.1:${EC_WEB_PORT:-8100}  (demo users: $users_file)"
echo "APIs: meter-ingest :8101, ledger :8102, billing :8103, escrow :8104, gsa-market :8105 (OpenAPI at /docs)"
echo "Witnesses: witness-auditor :8110, witness-parlier :8111 (GET /status)"
echo "Stop with deploy/down.sh."

if [ "${1:-}" != "--no-demo" ]; then
  step "Demo scenario (Ctrl-C stops the driver, not the system)"
  "$bin/energychain-demo" --users "$users_file" --speed "${EC_DEMO_SPEED:-86400}"
fi
