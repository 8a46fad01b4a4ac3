#!/usr/bin/env bash
# The demo's witnesses: one per municipality with houses (a member of its residents'
# channels) and the independent auditor. Each is a party of its own: its key and its
# SQLite store live in <run dir>/witness/<name>, never in the ledger's database.
#
#   deploy/witnesses.sh init    create each witness's key (if missing) and register its
#                               verifier key and API address with the ledger
#   deploy/witnesses.sh list    name, ledger login and port of each witness, one per line
#
# EC_WITNESSES lists them as name:login:port (default: witness-parlier, witness-auditor);
# an empty EC_WITNESSES runs none. deploy/services.sh starts them with the services.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=deploy/lib/env.sh
. "$repo/deploy/lib/env.sh"
load_env
bin="$repo/.venv/bin"

witnesses() {
  echo "${EC_WITNESSES-witness-parlier:witness-parlier:8111 witness-auditor:auditor:8110}" | tr ' ' '\n' | grep -v '^$' || true
}

case "${1:-}" in
  list) witnesses ;;
  init)
    for spec in $(witnesses); do
      IFS=: read -r name login port <<<"$spec"
      vkey=$(EC_WITNESS_NAME="$name" "$bin/energychain-witness" init 2>/dev/null)
      "$bin/energychain-ledger" add-witness --vkey "$vkey" --url "http://127.0.0.1:$port"
    done
    ;;
  *) echo "usage: $0 init|list" >&2; exit 2 ;;
esac
