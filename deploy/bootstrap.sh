#!/usr/bin/env bash
# Creates (or refreshes) the project's Python environment in .venv: the shared
# package, every service, the clients and the web server, editable, with their pinned dependencies.
# Re-installs only when a pyproject.toml changed since the last run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
python=${EC_PYTHON:-python3}

packages=("$repo/shared")
for package in "$repo"/services/*/ "$repo"/clients/*/ "$repo"/web/; do
  [ -f "$package/pyproject.toml" ] && packages+=("${package%/}")
done

# Python 3.11 is what every pin was resolved for.
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "bootstrap: need Python 3.11 (found $("$python" --version 2>&1)); set EC_PYTHON" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pip==25.3
fi

stamp="$venv/.energychain-installed"
want=$(cat "${packages[@]/%//pyproject.toml}" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "bootstrap: installing ${#packages[@]} packages into $venv"
args=()
for package in "${packages[@]}"; do args+=(-e "$package[test]"); done
"$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}"
echo "$want" > "$stamp"
