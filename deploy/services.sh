#!/usr/bin/env bash
# Starts, stops and reports the EnergyChain service processes (no Docker).
#
#   deploy/services.sh start [NAME...]     start every process (or the named ones)
#   deploy/services.sh stop [NAME...]      stop them (TERM, then KILL after 15 s)
#   deploy/services.sh status              one line per process; exit 0 if all run
#
# The witnesses of deploy/witnesses.sh run beside the services (witness-parlier, witness-auditor).
# Scale-out: EC_SCALE_<NAME>=N starts N instances of a stream worker, e.g.
#   EC_SCALE_BILLING_WORKER=3 EC_SCALE_LEDGER_CONSUMER=2 EC_SCALE_GSA_MARKET_FLEET=2 deploy/services.sh start
# Instances of one worker share partitions through their Kafka consumer group.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=deploy/lib/env.sh
. "$repo/deploy/lib/env.sh"
load_env
run_dir=${EC_RUN_DIR:-$repo/.run}
case "$run_dir" in /*) ;; *) run_dir="$repo/$run_dir" ;; esac
pids="$run_dir/pids"; logs="$run_dir/logs"
mkdir -p "$pids" "$logs"
bin="$repo/.venv/bin"

# name | command. APIs listen on the ports in .env; workers scale by instances.
PROCESSES=(
  "ledger-api|$bin/energychain-ledger serve"
  "ledger-consumer|$bin/energychain-ledger consume"
  "billing-api|$bin/energychain-billing serve"
  "billing-worker|$bin/energychain-billing worker"
  "escrow-api|$bin/energychain-escrow serve"
  "escrow-worker|$bin/energychain-escrow worker"
  "gsa-market-api|$bin/energychain-gsa-market serve"
  "gsa-market-worker|$bin/energychain-gsa-market worker"
  "gsa-market-fleet|$bin/energychain-gsa-market fleet"
  "meter-ingest-api|$bin/energychain-meter-ingest serve"
  "web|$bin/energychain-web serve"
)
# Witnesses (deploy/witnesses.sh): each logs in at the ledger as its own user, whose password it
# reads from the demo users file.
users_file=${EC_WITNESS_USERS_FILE:-$repo/deploy/demo-users.json}
[ -f "$users_file" ] || users_file=$repo/deploy/demo-users.example.json
for spec in $("$repo/deploy/witnesses.sh" list); do
  IFS=: read -r name login port <<<"$spec"
  PROCESSES+=("$name|env EC_WITNESS_NAME=$name EC_WITNESS_USERNAME=$login EC_WITNESS_PORT=$port EC_WITNESS_USERS_FILE=$users_file EC_WITNESS_LEDGER_URL=http://127.0.0.1:${EC_LEDGER_PORT:-8102} $bin/energychain-witness run")
done

instances_of() {
  local var="EC_SCALE_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  echo "${!var:-1}"
}

# Alive and not a zombie (a killed process whose parent has not reaped it yet is gone).
is_running() {
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

selected() {
  local name=$1; shift
  [ $# -eq 0 ] && return 0
  for wanted in "$@"; do [ "$wanted" = "$name" ] || [[ "$name" == "$wanted"-* ]] && return 0; done
  return 1
}

start() {
  for entry in "${PROCESSES[@]}"; do
    local name=${entry%%|*} command=${entry#*|}
    selected "$name" "$@" || continue
    for i in $(seq 1 "$(instances_of "$name")"); do
      local pidfile="$pids/$name-$i.pid"
      if is_running "$pidfile"; then
        echo "running  $name#$i (pid $(cat "$pidfile"))"
        continue
      fi
      EC_INSTANCE="$name-$i" nohup $command >>"$logs/$name-$i.log" 2>&1 &
      echo $! >"$pidfile"
      echo "started  $name#$i (pid $!, log $logs/$name-$i.log)"
    done
  done
}

stop() {
  for pidfile in "$pids"/*.pid; do
    [ -e "$pidfile" ] || continue
    local name; name=$(basename "$pidfile" .pid)
    selected "${name%-*}" "$@" || continue
    if is_running "$pidfile"; then
      local pid; pid=$(cat "$pidfile")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      echo "stopped  $name (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

status() {
  local all=0
  for entry in "${PROCESSES[@]}"; do
    local name=${entry%%|*}
    for i in $(seq 1 "$(instances_of "$name")"); do
      local pidfile="$pids/$name-$i.pid"
      if is_running "$pidfile"; then echo "running  $name#$i (pid $(cat "$pidfile"))"
      else echo "stopped  $name#$i"; all=1; fi
    done
  done
  return $all
}

command=${1:-}; shift || true
case "$command" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status [NAME...]" >&2; exit 2 ;;
esac
