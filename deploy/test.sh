#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, starts the real Kafka
# broker and PostgreSQL server (left running afterwards; `deploy/infra.sh stop`
# stops them), then runs the web apps' unit tests and every package's unit,
# integration, browser, system and fault tests. The browser tests (web/tests/e2e)
# build the web app and start a system of their own; they drive Debian's Chromium,
# installed here when it is missing.
# Extra arguments go to pytest, e.g. `deploy/test.sh -m unit` or `-k ledger`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

"$repo/deploy/bootstrap.sh"
"$repo/deploy/infra.sh" start
if [ ! -x "${EC_E2E_CHROMIUM:-/usr/bin/chromium}" ]; then
  "$repo/web/tests/install-browser.sh" \
    || echo "test.sh: no headless Chromium: the browser tests (web/tests/e2e) will fail" >&2
fi

# The web apps' own unit tests (TypeScript, vitest), unless a subset of pytest was asked for.
if [ $# -eq 0 ]; then
  "$repo/web/build.sh" --test
fi

set +e
"$repo/.venv/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
