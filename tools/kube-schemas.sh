#!/usr/bin/env bash
# Derives kubeconform's JSON schemas offline for every Kubernetes version in
# KUBE_SCHEMA_VERSIONS (tools/versions.sh), into
#   <repo>/.cache/kube-schemas/v<version>-standalone-strict/<kind>[-<group>]-<version>.json
# which kubeconform reads with
#   kubeconform -strict -kubernetes-version <version> \
#     -schema-location '<repo>/.cache/kube-schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'
#
# kubeconform cannot download its schemas here, so they are built from the OpenAPI
# document that ships in the k8s.io/kubernetes module (api/openapi-spec/swagger.json):
# the module zip is fetched straight from the Go module proxy (no `go mod download`,
# which would unpack the whole module), checked against its go.sum hash from the
# checksum database (through the proxy), and only api/openapi-spec/ is extracted.
# tools/openapi2jsonschema.ts does the conversion.
#
# Cached: a version whose directory holds a stamp naming the same module version and
# converter hash is skipped. Called by tools/install-tools.sh; runs alone too.
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=tools/versions.sh
source "$REPO/tools/versions.sh"

SCHEMAS_DIR="$REPO/.cache/kube-schemas"
DOWNLOAD_DIR="$REPO/.cache/tools/downloads"
CONVERTER="$REPO/tools/openapi2jsonschema.ts"
MODULE="k8s.io/kubernetes"

schemas_log() { printf '%s\n' "$*"; }
schemas_die() { printf 'kube-schemas: error: %s\n' "$*" >&2; exit 1; }

schemas_go() {
  if [[ -n "${GO:-}" ]]; then printf '%s\n' "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then printf '%s\n' /usr/local/go/bin/go
  else schemas_die "Go toolchain not found (needed for 'go env GOPROXY'; set GO=/path/to/go)"
  fi
}

# First usable proxy URL of GOPROXY (entries separated by ',' or '|').
schemas_proxy() {
  local go_bin entry
  go_bin="$(schemas_go)"
  local -a entries
  IFS=',|' read -r -a entries <<<"$("$go_bin" env GOPROXY)"
  for entry in "${entries[@]}"; do
    case "$entry" in
      http://* | https://* | file://*) printf '%s\n' "${entry%/}"; return 0 ;;
    esac
  done
  schemas_die "GOPROXY has no proxy URL to fetch $MODULE from"
}

# Prints the h1 hash of module@version from the checksum database, via the proxy
# (GOSUMDB itself is usually not reachable here); empty when it cannot be had.
schemas_sum() { # <proxy> <version>
  local go_bin sumdb
  go_bin="$(schemas_go)"
  sumdb="$("$go_bin" env GOSUMDB)"
  sumdb="${sumdb%% *}"
  [[ -z "$sumdb" || "$sumdb" == off ]] && return 0
  curl -fsSL --retry 3 "$1/sumdb/$sumdb/lookup/$MODULE@$2" 2>/dev/null \
    | awk -v m="$MODULE" -v v="$2" '$1 == m && $2 == v { print $3; exit }' || true
}

# Runs the TypeScript converter with the repo's tsx (npm ci first when node_modules is missing).
schemas_tsx() {
  if [[ ! -x "$REPO/node_modules/.bin/tsx" ]]; then
    # stderr: callers send the converter's stdout to /dev/null.
    printf 'kube-schemas: node_modules missing: running npm ci\n' >&2
    (cd "$REPO" && npm ci --no-audit --no-fund --loglevel=error >&2) || schemas_die "npm ci failed"
  fi
  "$REPO/node_modules/.bin/tsx" "$CONVERTER" "$@"
}

schemas_generate() { # <kubernetes version without v>
  local version="v$1"
  local out="$SCHEMAS_DIR/$version-standalone-strict"
  local want
  want="$MODULE $version converter=$(sha256sum "$CONVERTER" | cut -c1-16)"
  if [[ -f "$out/.stamp" && "$(<"$out/.stamp")" == "$want" ]]; then
    schemas_log "kube-schemas $version (cached, $(find "$out" -name '*.json' | wc -l) schemas)"
    return 0
  fi

  local proxy zip sum
  proxy="$(schemas_proxy)"
  zip="$DOWNLOAD_DIR/$MODULE@$version.zip"
  mkdir -p "$(dirname "$zip")"
  if [[ ! -s "$zip" ]]; then
    curl -fsSL --retry 3 -o "$zip.part" "$proxy/$MODULE/@v/$version.zip" \
      || schemas_die "cannot download $proxy/$MODULE/@v/$version.zip"
    mv -f "$zip.part" "$zip"
  fi
  sum="$(schemas_sum "$proxy" "$version")"
  local -a sum_args=()
  if [[ -n "$sum" ]]; then
    sum_args=(--sum "$sum")
  else
    printf 'kube-schemas: warning: no checksum for %s@%s; not verifying the zip\n' "$MODULE" "$version" >&2
  fi

  local spec_dir="$DOWNLOAD_DIR/kubernetes-$version"
  rm -rf "$spec_dir"
  if ! schemas_tsx extract --zip "$zip" --module "$MODULE@$version" "${sum_args[@]}" \
    --prefix api/openapi-spec/ --dest "$spec_dir" >/dev/null; then
    rm -f "$zip" # a corrupt or tampered download must not stay cached
    schemas_die "extracting api/openapi-spec/ from $zip failed"
  fi

  local tmp="$out.tmp.$$"
  rm -rf "$tmp"
  schemas_tsx convert --spec "$spec_dir/api/openapi-spec/swagger.json" --output "$tmp" >/dev/null \
    || { rm -rf "$tmp"; schemas_die "converting the $version OpenAPI spec failed"; }
  printf '%s\n' "$want" >"$tmp/.stamp"
  rm -rf "$out"
  mv "$tmp" "$out"
  schemas_log "kube-schemas $version (generated, $(find "$out" -name '*.json' | wc -l) schemas)"
}

schemas_main() {
  [[ -n "${KUBE_SCHEMA_VERSIONS// /}" ]] || schemas_die "KUBE_SCHEMA_VERSIONS is empty"
  mkdir -p "$SCHEMAS_DIR"
  local v
  for v in $KUBE_SCHEMA_VERSIONS; do
    schemas_generate "${v#v}"
  done
}

schemas_main "$@"
