#!/usr/bin/env bash
# Runs the project's local infrastructure as plain processes on loopback, no Docker:
# a real Apache Kafka broker (KRaft, one node that is broker and controller) and a
# real PostgreSQL server (its own cluster, not the distribution's default one).
#
#   deploy/infra.sh start|stop|status|reset [kafka|postgres]   (no component = both)
#
# start   installs what is missing, starts, and returns once each component really
#         answers (Kafka: a metadata request; PostgreSQL: a query as the app role).
# stop    graceful shutdown, then SIGKILL after a timeout; leaves no process behind.
# status  one line per component; exit 0 only if every component asked about runs.
# reset   stop, then wipe the component's state (the Kafka jars are kept; a Kafka reset also
#         forgets the replay checkpoints, which describe the wiped topics).
# Every command is idempotent. Settings: EC_* variables from the environment or
# <repo>/.env (copied from .env.example when missing); see deploy/local/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kafka_src="$repo/deploy/local/kafka"
# shellcheck source=deploy/lib/env.sh
. "$repo/deploy/lib/env.sh"

log() { echo "infra: $*"; }
die() { echo "infra: error: $*" >&2; exit 1; }

# --- configuration -----------------------------------------------------------

configure() {
  load_env
  run_dir=${EC_RUN_DIR:-.run}
  [[ $run_dir = /* ]] || run_dir="$repo/$run_dir"

  # The port of the first host:port in the bootstrap list is the broker's client
  # port. The broker itself always listens on 127.0.0.1 (loopback only).
  local bootstrap=${EC_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
  bootstrap=${bootstrap%%,*}
  kafka_port=${bootstrap##*:}
  controller_port=${EC_KAFKA_CONTROLLER_PORT:-9093}

  pg_host=${EC_PG_HOST:-127.0.0.1}
  pg_port=${EC_PG_PORT:-5433}
  pg_user=${EC_PG_USER:-energychain}
  pg_password=${EC_PG_PASSWORD:-}
  pg_database=${EC_PG_DATABASE:-energychain}

  start_timeout=${EC_INFRA_START_TIMEOUT:-120}
  stop_timeout=${EC_INFRA_STOP_TIMEOUT:-60}

  kafka_dir="$run_dir/kafka"
  kafka_libs="$kafka_dir/libs"
  kafka_logs="$kafka_dir/logs"
  kafka_pid_file="$kafka_dir/kafka.pid"

  pg_dir="$run_dir/postgres"
  pg_data="$pg_dir/data"
  pg_sockets="$pg_dir/run"
  pg_log="$pg_dir/logs/postgres.log"
}

# --- helpers -----------------------------------------------------------------

now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }

# True when something accepts TCP connections on host:port.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# True when pid is a live process whose command line contains pattern, so that a
# stale pid file whose number was reused by another process is not mistaken for ours.
pid_alive() {
  local pid=$1 pattern=$2
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] \
    && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# True until the process has fully exited: its sockets and files are closed only
# then. A zombie counts as exited (PID 1 on these machines reaps them lazily).
process_running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

# Sends the graceful-shutdown signal, waits, then SIGKILLs the process and its
# direct children (PostgreSQL's backends each run in their own process group, so
# a group kill would miss them, and orphans would keep the shared memory busy).
stop_process() {
  local name=$1 pid=$2 signal=$3 started victims victim
  started=$(now_ms)
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + stop_timeout))
  while process_running "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if process_running "$pid"; then
    log "$name: still running after ${stop_timeout} s, sending SIGKILL"
    mapfile -t victims < <(echo "$pid"; pgrep -P "$pid" || true)
    kill -KILL "${victims[@]}" 2>/dev/null || true
    for victim in "${victims[@]}"; do
      while process_running "$victim"; do sleep 0.1; done
    done
  fi
  log "$name: stopped (pid $pid, in $(since "$started"))"
}

# Fails unless host:port is free. Waits a little first: a server killed a moment
# ago (durability tests do that) still holds its port until the kernel has torn
# the process down.
wait_port_free() {
  local name=$1 host=$2 port=$3 deadline=$((SECONDS + 10))
  while tcp_open "$host" "$port"; do
    [ $SECONDS -lt $deadline ] \
      || die "$name: $host:$port is taken by a process this script did not start (see ss -ltnp)"
    sleep 0.2
  done
}

apt_install() {
  [ "$(id -u)" -eq 0 ] || die "need $* but not root: install it (apt-get install $*) and retry"
  log "installing $* with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_command() { command -v "$1" >/dev/null || apt_install "$2"; }

# --- Kafka -------------------------------------------------------------------

kafka_pid() {
  local pid
  pid=$(cat "$kafka_pid_file" 2>/dev/null) || return 1
  pid_alive "$pid" kafka.Kafka && echo "$pid"
}

# Runs a Kafka command-line class on the broker's classpath. Small heap and the C1
# compiler only: these are short-lived and JVM start-up dominates.
kafka_tool() {
  timeout 60 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j.configuration="file:$kafka_src/log4j.properties" \
    -Dkafka.logs.dir="$kafka_logs" -Dkafka.log.name=tools \
    -cp "$kafka_libs/*" "$@"
}

# Copies the broker's jars out of ~/.m2 (downloading from Maven Central when
# needed), only when libs/ is missing or the pom changed since the last copy.
kafka_resolve_jars() {
  local stamp="$kafka_dir/libs.sha256" want
  want=$(sha256sum "$kafka_src/pom.xml" | cut -d' ' -f1)
  if [ -d "$kafka_libs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  need_command java default-jre-headless
  need_command mvn maven
  log "kafka: resolving jars with Maven into $kafka_libs"
  # Into a temporary directory first, so an interrupted download leaves no half classpath.
  rm -rf "$kafka_libs.tmp"
  mvn -B -f "$kafka_src/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$kafka_libs.tmp" > "$kafka_logs/maven.log" 2>&1 \
    || die "kafka: Maven could not resolve deploy/local/kafka/pom.xml, see $kafka_logs/maven.log"
  rm -rf "$kafka_libs"
  mv "$kafka_libs.tmp" "$kafka_libs"
  echo "$want" > "$stamp"
}

# Rendered at every start, so a changed port in .env takes effect.
kafka_render_config() {
  sed -e "s|@KAFKA_PORT@|$kafka_port|g" \
      -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@LOG_DIR@|$kafka_dir/data|g" \
      "$kafka_src/server.properties.template" > "$kafka_dir/server.properties"
}

# KRaft storage must be formatted once with a cluster id before the first start.
kafka_format_storage() {
  [ -f "$kafka_dir/data/meta.properties" ] && return
  local id_file="$kafka_dir/cluster.id"
  [ -s "$id_file" ] || kafka_tool kafka.tools.StorageTool random-uuid > "$id_file"
  kafka_tool kafka.tools.StorageTool format --ignore-formatted \
      --config "$kafka_dir/server.properties" --cluster-id "$(cat "$id_file")" \
      >> "$kafka_logs/tools.log" 2>&1 \
    || die "kafka: formatting storage failed, see $kafka_logs/tools.log"
}

# Ready = the broker answers a metadata request (listing topics), not merely an
# open port: the port opens before the broker has caught up with its metadata log.
kafka_wait_ready() {
  local pid=$1 deadline=$((SECONDS + start_timeout))
  while [ $SECONDS -lt $deadline ]; do
    # kill -0, not pid_alive: right after the fork the child has not exec'd java yet.
    kill -0 "$pid" 2>/dev/null \
      || die "kafka: the broker exited during start-up, see $kafka_logs/server.log and $kafka_logs/stdout.log"
    if tcp_open 127.0.0.1 "$kafka_port" \
       && kafka_tool org.apache.kafka.tools.TopicCommand \
            --bootstrap-server "127.0.0.1:$kafka_port" --list >/dev/null 2>&1; then
      return
    fi
    sleep 1
  done
  die "kafka: not answering on 127.0.0.1:$kafka_port after ${start_timeout} s, see $kafka_logs/server.log"
}

kafka_start() {
  local started pid
  started=$(now_ms)
  if pid=$(kafka_pid); then
    # An open port is enough here (cheap); a broker still starting is waited for.
    tcp_open 127.0.0.1 "$kafka_port" || kafka_wait_ready "$pid"
    log "kafka: already running (pid $pid) at 127.0.0.1:$kafka_port"
    return
  fi
  wait_port_free kafka 127.0.0.1 "$kafka_port"
  wait_port_free kafka 127.0.0.1 "$controller_port"
  mkdir -p "$kafka_logs" "$kafka_dir/data"
  kafka_resolve_jars
  kafka_render_config
  kafka_format_storage
  # setsid: the broker gets its own session, so a Ctrl-C or hang-up meant for this
  # shell does not reach it. 9>&- : it must not inherit (and hold) the lock.
  setsid nohup java -Xms256m -Xmx1g \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$kafka_src/log4j.properties" \
    -Dkafka.logs.dir="$kafka_logs" -Dkafka.log.name=server \
    -cp "$kafka_libs/*" kafka.Kafka "$kafka_dir/server.properties" \
    >> "$kafka_logs/stdout.log" 2>&1 < /dev/null 9>&- &
  pid=$!
  echo "$pid" > "$kafka_pid_file"
  kafka_wait_ready "$pid"
  log "kafka: ready (pid $pid) at 127.0.0.1:$kafka_port, started in $(since "$started")"
}

kafka_stop() {
  local pid
  if pid=$(kafka_pid); then
    # SIGTERM: the broker shuts down cleanly, flushing and closing its logs.
    stop_process kafka "$pid" TERM
  else
    log "kafka: not running"
  fi
  rm -f "$kafka_pid_file"
}

kafka_status() {
  local pid
  if pid=$(kafka_pid) && tcp_open 127.0.0.1 "$kafka_port"; then
    echo "kafka: running, pid $pid, 127.0.0.1:$kafka_port (log $kafka_logs/server.log)"
  elif [ -n "${pid:-}" ]; then
    echo "kafka: starting or stuck, pid $pid, port $kafka_port not accepting (log $kafka_logs/server.log)"
    return 1
  else
    echo "kafka: stopped"
    return 1
  fi
}

kafka_reset() {
  kafka_stop
  rm -rf "$kafka_dir/data" "$kafka_logs" "$kafka_dir/cluster.id" "$kafka_dir/server.properties"
  # The replay checkpoints say what was published to the wiped topics: they go with them.
  rm -rf "$run_dir/meter-ingest"
  log "kafka: state wiped, replay checkpoints with it (jars kept in $kafka_libs)"
}

# --- PostgreSQL --------------------------------------------------------------

pg_newest_server() {
  compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1 || true
}

# Sets pg_bin to the highest installed server version's bin directory (>= 15),
# installing Debian's postgresql package when there is no server at all.
pg_find_bin() {
  local postgres
  postgres=$(pg_newest_server)
  if [ -z "$postgres" ]; then
    apt_install postgresql
    postgres=$(pg_newest_server)
  fi
  [ -n "$postgres" ] || die "postgres: no server under /usr/lib/postgresql/*/bin after installing"
  pg_bin=${postgres%/postgres}
  local version=${pg_bin#/usr/lib/postgresql/}
  version=${version%%/*}
  [ "${version%%.*}" -ge 15 ] || die "postgres: need version 15 or later, found $version"
}

# PostgreSQL refuses to run as root: as root, run its programs as the `postgres`
# OS user; otherwise as the current user.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_pid() {
  local pid
  pid=$(head -n 1 "$pg_data/postmaster.pid" 2>/dev/null) || return 1
  pid_alive "$pid" postgres && echo "$pid"
}

# After a SIGKILL the old lock files (postmaster.pid and the socket's .lock) stay
# behind, and on these machines the killed postmaster lingers for seconds as a
# zombie that PID 1 has not reaped yet, whose pid PostgreSQL takes for a live
# server ("lock file already exists"). Called only when no live server of ours
# owns them, so they are stale. PostgreSQL itself still refuses to start while
# any old backend holds the cluster's shared memory.
pg_remove_stale_locks() {
  rm -f "$pg_data/postmaster.pid" "$pg_sockets"/.s.PGSQL.*.lock
}

pg_prepare_dirs() {
  mkdir -p "$pg_sockets" "$(dirname "$pg_log")"
  # Created here so that both this script and the server (pg_ctl -l) can append to it.
  touch "$pg_log"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "postgres: no 'postgres' OS user to run the server as"
    chown postgres: "$pg_dir" "$pg_sockets" "$(dirname "$pg_log")" "$pg_log"
    runuser -u postgres -- test -w "$pg_dir" \
      || die "postgres: the postgres OS user cannot reach $pg_dir (a parent directory is not traversable); set EC_RUN_DIR elsewhere"
  fi
}

pg_init_cluster() {
  [ -f "$pg_data/PG_VERSION" ] && return
  log "postgres: creating a cluster in $pg_data"
  # peer for the unix socket (administration by this script), scram over TCP
  # (the application); checksums so a durability test notices torn pages.
  as_pg_owner "$pg_bin/initdb" -D "$pg_data" --auth-local=peer --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 --data-checksums --no-instructions \
      >> "$pg_log" 2>&1 \
    || die "postgres: initdb failed, see $pg_log"
  echo "include 'energychain.conf'" | as_pg_owner tee -a "$pg_data/postgresql.conf" >/dev/null
}

# Rendered at every start, so a changed host or port in .env takes effect.
pg_render_config() {
  as_pg_owner tee "$pg_data/energychain.conf" >/dev/null <<EOF
# Written by deploy/infra.sh at every start; edit the script, not this file.
listen_addresses = '$pg_host'
port = $pg_port
unix_socket_directories = '$pg_sockets'
max_connections = 200
shared_buffers = 256MB
password_encryption = 'scram-sha-256'
# Durability tests kill the server: every committed transaction must survive that.
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
}

# psql as the cluster's superuser over the unix socket (peer authentication).
pg_admin_psql() {
  as_pg_owner "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg_sockets" -p "$pg_port" -d postgres "$@"
}

# Creates the application role and its two databases when missing, and sets the
# role's password from .env each time, so changing it there is enough. The role may
# create databases: the system tests and the benchmark run whole throwaway instances
# of the system, each on a database of its own.
pg_ensure_role_and_databases() {
  pg_admin_psql -v role="$pg_user" -v password="$pg_password" -v db="$pg_database" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN CREATEDB PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', name, :'role')
  FROM unnest(ARRAY[:'db', :'db' || '_test']) AS name
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = name) \gexec
SQL
}

# Ready = the application role can log in over TCP with its password and query.
pg_wait_ready() {
  "$pg_bin/pg_isready" -q -h "$pg_host" -p "$pg_port" -t "$start_timeout" \
    || die "postgres: not accepting connections on $pg_host:$pg_port, see $pg_log"
  pg_ensure_role_and_databases || die "postgres: could not create role/databases, see $pg_log"
  PGPASSWORD=$pg_password "$pg_bin/psql" -X -q -At -h "$pg_host" -p "$pg_port" \
      -U "$pg_user" -d "$pg_database" -c 'SELECT 1' >/dev/null \
    || die "postgres: role $pg_user cannot log in to $pg_database on $pg_host:$pg_port, see $pg_log"
}

pg_start() {
  local started pid
  started=$(now_ms)
  [ -n "$pg_password" ] || die "postgres: EC_PG_PASSWORD is empty; set it in $repo/.env"
  pg_find_bin
  if pid=$(pg_pid); then
    pg_wait_ready
    log "postgres: already running (pid $pid) at $pg_host:$pg_port"
    return
  fi
  wait_port_free postgres "$pg_host" "$pg_port"
  pg_remove_stale_locks
  pg_prepare_dirs
  pg_init_cluster
  pg_render_config
  # pg_ctl detaches the server into its own session; 9>&- : no lock inheritance.
  as_pg_owner "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -w -t "$start_timeout" start \
      >/dev/null 9>&- \
    || die "postgres: the server did not start, see $pg_log"
  pg_wait_ready
  log "postgres: ready (pid $(pg_pid)) at $pg_host:$pg_port, databases $pg_database and ${pg_database}_test, started in $(since "$started")"
}

pg_stop() {
  local pid
  if pid=$(pg_pid); then
    # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    # (SIGTERM would wait for every client to disconnect by itself.)
    stop_process postgres "$pid" INT
  else
    log "postgres: not running"
  fi
}

pg_status() {
  local pid
  if pid=$(pg_pid) && tcp_open "$pg_host" "$pg_port"; then
    echo "postgres: running, pid $pid, $pg_host:$pg_port (log $pg_log)"
  elif [ -n "${pid:-}" ]; then
    echo "postgres: starting or stuck, pid $pid, port $pg_port not accepting (log $pg_log)"
    return 1
  else
    echo "postgres: stopped"
    return 1
  fi
}

pg_reset() {
  pg_stop
  rm -rf "$pg_dir"
  log "postgres: state wiped"
}

# --- main --------------------------------------------------------------------

usage() { echo "usage: deploy/infra.sh start|stop|status|reset [kafka|postgres]" >&2; exit 2; }

main() {
  (( $# >= 1 && $# <= 2 )) || usage
  local command=$1 components
  case "${2:-}" in
    "") components=(postgres kafka) ;;
    kafka|postgres) components=("$2") ;;
    *) usage ;;
  esac
  case "$command" in start|stop|status|reset) ;; *) usage ;; esac

  configure
  mkdir -p "$run_dir"
  # One infra.sh at a time per run dir: two concurrent starts would race for the
  # same ports and data directories.
  exec 9> "$run_dir/infra.lock"
  flock 9

  local component prefix status=0
  for component in "${components[@]}"; do
    prefix=${component/postgres/pg}
    if [ "$command" = status ]; then
      "${prefix}_status" || status=1
    else
      # Not under `||`: that would switch off `set -e` inside the function.
      "${prefix}_$command"
    fi
  done
  return $status
}

main "$@"
