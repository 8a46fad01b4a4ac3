#!/usr/bin/env bash
# The web app (web/app, Vite + React + TypeScript) from a fresh clone with only the npm registry.
#   web/build.sh           npm ci when the lockfile changed, then build web/app/dist when a source is newer
#   web/build.sh --force   build even when dist is up to date
#   web/build.sh --test    npm ci when needed, then typecheck and run the unit tests (vitest)
# Needs Node.js 20.19+ (or 22.12+) and npm. Exit 3 when they are missing.
set -euo pipefail

app=$(cd "$(dirname "${BASH_SOURCE[0]}")/app" && pwd)
cd "$app"
mode=${1:-build}
case "$mode" in build|--force|--test) ;; *) echo "usage: web/build.sh [--force|--test]" >&2; exit 2 ;; esac

command -v npm >/dev/null && command -v node >/dev/null \
  || { echo "web: node/npm not found: install Node.js 20.19+ and npm" >&2; exit 3; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit((a===20&&b>=19)||(a===22&&b>=12)||a>=23?0:1)' \
  || { echo "web: Node.js $(node --version) is too old: Vite needs 20.19+ or 22.12+" >&2; exit 3; }

# Install exactly the lockfile, and only when it changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$mode" = "--test" ]; then
  npm run --silent typecheck
  exec npx --no-install vitest run
fi

stamp=dist/index.html
if [ "$mode" != "--force" ] && [ -f "$stamp" ]; then
  newer=$(find src index.html package.json package-lock.json vite.config.ts tsconfig.json -newer "$stamp" -print -quit)
  if [ -z "$newer" ]; then
    echo "web: app is up to date ($app/dist)"
    exit 0
  fi
fi
npm run --silent build
echo "web: built $app/dist"
