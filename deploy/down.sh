#!/usr/bin/env bash
# Stops everything `deploy/up.sh` started: the service processes, then Kafka and
# PostgreSQL. State is kept; `deploy/infra.sh reset` wipes it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/deploy/services.sh" stop
"$repo/deploy/infra.sh" stop
