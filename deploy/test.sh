#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, starts the real Kafka
# broker and PostgreSQL server (left running afterwards; `deploy/infra.sh stop`
# stops them), then runs every package's unit, integration and end-to-end tests.
# Extra arguments go to pytest, e.g. `deploy/test.sh -m unit` or `-k ledger`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

"$repo/deploy/bootstrap.sh"
"$repo/deploy/infra.sh" start

set +e
"$repo/.venv/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
