#!/usr/bin/env bash
# EnergyChain in containers: docker-compose.yml (one Kafka broker) or, with --cluster,
# docker-compose.yml + deploy/docker/compose.cluster.yml (three KRaft brokers, RF 3, min ISR 2).
#
#   deploy/compose.sh build                 install what is missing, make the base image, build the images
#   deploy/compose.sh up [--cluster] [--scale SERVICE=N ...]   build, start, wait until every service is healthy
#   deploy/compose.sh down [--cluster]      stop and remove the containers and volumes
#   deploy/compose.sh ps|logs [...]         docker-compose ps / logs of the project
#   deploy/compose.sh compose ARGS...       any docker-compose command on the project's files
#   deploy/compose.sh test [PYTEST ARGS]    the compose tests (pytest -m compose deploy/tests)
#
# Installs docker.io, docker-compose and debootstrap with apt-get when missing (as root), starts dockerd
# when none runs (log in .run/docker/dockerd.log). BASE is the image every image is built FROM: by default
# energychain/base:bookworm, made once with debootstrap + docker import (no registry needed); on a machine
# with a registry, BASE=debian:bookworm-slim. Settings: EC_COMPOSE_PROJECT (default energychain),
# EC_PG_PASSWORD (default: a generated one kept in .run/docker/pg-password), EC_COMPOSE_HEALTH_TIMEOUT (s).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
state="$repo/.run/docker"
mkdir -p "$state"
BASE=${BASE:-energychain/base:bookworm}
TAG=${EC_IMAGE_TAG:-0.1.0}
project=${EC_COMPOSE_PROJECT:-energychain}
health_timeout=${EC_COMPOSE_HEALTH_TIMEOUT:-300}
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

log() { echo "compose: $*" >&2; }
die() { echo "compose: error: $*" >&2; exit 1; }
now() { date +%s; }

apt_install() {
  [ "$(id -u)" -eq 0 ] || die "need $* but not root: install it (apt-get install $*) and retry"
  command -v apt-get >/dev/null || die "need $* and there is no apt-get: install it by hand"
  log "installing $* with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_tools() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ "$BASE" = energychain/base:bookworm ]; then command -v debootstrap >/dev/null || missing+=(debootstrap); fi
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  # Debian's client matches Debian's engine (another docker client may come first on PATH).
  if [ -x /usr/bin/docker ]; then docker=/usr/bin/docker; else docker=$(command -v docker); fi
}

ensure_dockerd() {
  if "$docker" info >/dev/null 2>&1; then return; fi
  [ "$(id -u)" -eq 0 ] || die "no Docker engine answers and not root: start dockerd (or join the docker group)"
  log "starting dockerd (log $state/dockerd.log)"
  setsid nohup dockerd >>"$state/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$state/dockerd.pid"
  for _ in $(seq 1 60); do "$docker" info >/dev/null 2>&1 && return; sleep 0.5; done
  die "dockerd did not come up in 30 s, see $state/dockerd.log"
}

# The base every image is FROM, when no registry can give debian:bookworm-slim: made once.
ensure_base() {
  if "$docker" image inspect "$BASE" >/dev/null 2>&1; then return; fi
  [ "$BASE" = energychain/base:bookworm ] || die "base image $BASE is missing (pull it, or unset BASE)"
  local started; started=$(now)
  log "making $BASE with debootstrap (minbase bookworm) and docker import"
  rm -rf "$state/rootfs"
  debootstrap --variant=minbase bookworm "$state/rootfs" "${EC_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      >"$state/debootstrap.log" 2>&1 || die "debootstrap failed, see $state/debootstrap.log"
  rm -rf "$state/rootfs/var/cache/apt/archives/"*.deb "$state/rootfs/var/lib/apt/lists/"*
  tar -C "$state/rootfs" -c . | "$docker" import -c 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$state/rootfs"
  log "made $BASE in $(( $(now) - started )) s"
}

# The build context: the repository's files (tracked and new, not ignored), the web apps' build and
# the extra CA certificates this machine trusts (an intercepting proxy's; none on a normal machine).
# Unchanged files keep their timestamps, so Docker's layer cache holds between runs.
make_context() {
  local context="$state/context"
  mkdir -p "$context"
  if [ ! -f web/app/dist/index.html ]; then
    log "building the web apps (web/build.sh)"
    "$repo/web/build.sh" >"$state/web-build.log" 2>&1 || die "web/build.sh failed, see $state/web-build.log"
  fi
  { git ls-files -co --exclude-standard; find web/app/dist -type f; } | sort -u \
    | while read -r f; do [ -f "$f" ] && echo "$f"; done >"$state/context.files"
  rsync -a --delete --files-from="$state/context.files" ./ "$context/" 2>/dev/null \
    || { rm -rf "$context"; mkdir -p "$context"; tar -c -T "$state/context.files" | tar -x -C "$context"; }
  mkdir -p "$context/deploy/docker/ca"
  find "$context/deploy/docker/ca" -name '*.crt' -delete
  local n=0
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] || continue
    cp -p "$crt" "$context/deploy/docker/ca/"; n=$((n + 1))
  done
  touch -d @0 "$context/deploy/docker/ca"
  [ "$n" -eq 0 ] || log "copied $n extra CA certificate(s) from /usr/local/share/ca-certificates into the images"
  echo "$context"
}

build() {
  ensure_tools; ensure_dockerd; ensure_base
  local context started; context=$(make_context); started=$(now)
  local image dockerfile
  for spec in "energychain/kafka:$TAG|deploy/docker/kafka/Dockerfile" \
              "energychain/postgres:$TAG|deploy/docker/postgres/Dockerfile" \
              "energychain:$TAG|deploy/docker/Dockerfile"; do
    image=${spec%%|*}; dockerfile=${spec#*|}
    log "building $image"
    "$docker" build -q --build-arg "BASE=$BASE" -t "$image" -f "$context/$dockerfile" "$context" >/dev/null \
      || die "building $image failed (rerun: $docker build --build-arg BASE=$BASE -f $context/$dockerfile $context)"
  done
  log "images built in $(( $(now) - started )) s"
}

cluster=0
files() {
  local args=(-p "$project" -f "$repo/docker-compose.yml")
  [ "$cluster" -eq 1 ] && args+=(-f "$repo/deploy/docker/compose.cluster.yml")
  for extra in ${EC_COMPOSE_FILES:-}; do args+=(-f "$extra"); done
  echo "${args[@]}"
}

compose() {
  if [ -z "${EC_PG_PASSWORD:-}" ]; then
    [ -s "$state/pg-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$state/pg-password"
    EC_PG_PASSWORD=$(cat "$state/pg-password")
  fi
  export EC_PG_PASSWORD
  # shellcheck disable=SC2046
  docker-compose $(files) "$@"
}

# Every container of the project that has a health check is healthy and the init one-shot exited 0;
# fails early (with the logs) when a container exits or turns unhealthy.
wait_healthy() {
  local deadline=$(( $(now) + health_timeout )) ids id line pending
  while :; do
    mapfile -t ids < <(compose ps -q)
    [ ${#ids[@]} -gt 0 ] || die "no containers"
    pending=0
    for id in "${ids[@]}"; do
      line=$("$docker" inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$id")
      read -r name status code health restarts <<<"$line"
      name=${name#/}
      case "$name" in
        *_init_*) [ "$status" = exited ] && [ "$code" = 0 ] && continue
                  [ "$status" = exited ] && { compose logs --tail=60 init >&2; die "$name failed (exit $code)"; } ;;
        *) if [ "$status" = exited ] || [ "$status" = dead ] || [ "$health" = unhealthy ] || [ "$restarts" -gt 2 ]; then
             "$docker" logs --tail=60 "$id" >&2 || true
             die "$name is $status/$health (exit $code, $restarts restarts)"
           fi
           [ "$status" = running ] && { [ "$health" = healthy ] || [ "$health" = none ]; } && continue ;;
      esac
      pending=$((pending + 1))
    done
    [ "$pending" -eq 0 ] && return 0
    [ "$(now)" -lt "$deadline" ] || { compose ps >&2; die "not healthy after ${health_timeout} s"; }
    sleep 2
  done
}

up() {
  local started; started=$(now)
  [ "${EC_COMPOSE_SKIP_BUILD:-0}" = 1 ] && { ensure_tools; ensure_dockerd; } || build
  started=$(now)
  compose up -d --no-build "$@" >&2
  wait_healthy
  log "project $project is up and healthy in $(( $(now) - started )) s"
  compose ps >&2
}

command=${1:-}; shift || true
if [ "${1:-}" = --cluster ]; then cluster=1; shift; fi
case "$command" in
  build) build ;;
  up) up "$@" ;;
  wait) ensure_tools; wait_healthy ;;
  down) ensure_tools; ensure_dockerd; compose down -v --remove-orphans "$@" ;;
  ps) ensure_tools; compose ps "$@" ;;
  logs) ensure_tools; compose logs "$@" ;;
  compose) ensure_tools; ensure_dockerd; compose "$@" ;;
  test) build; exec "$repo/.venv/bin/python" -m pytest -m compose deploy/tests "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
