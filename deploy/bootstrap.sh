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

# Billing sets its invoice PDFs in DejaVu Sans (Debian's fonts-dejavu-core); the API answers 503 naming
# the package while it is missing.
fonts=(/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf)
if [ ! -f "${fonts[0]}" ] || [ ! -f "${fonts[1]}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing fonts-dejavu-core (the invoice PDFs' font) with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null
  else
    echo "bootstrap: warning: ${fonts[0]} is missing, so invoices cannot be downloaded as PDFs:" \
         "install it with apt-get install fonts-dejavu-core" >&2
  fi
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
