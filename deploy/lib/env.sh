# Shared by the deploy/ scripts; expects $repo to be set by the caller.

# Reads KEY=VALUE lines from .env without overriding variables already set in the
# environment (the environment wins, as for every other process of the project).
# Not `source`d: .env is data, and sourcing would override the environment.
load_env() {
  [ -f "$repo/.env" ] || cp "$repo/.env.example" "$repo/.env"
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    [ -n "${!key+set}" ] || export "$key=$value"
  done < "$repo/.env"
}
