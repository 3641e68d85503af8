#!/usr/bin/env bash
# Debian packages the host-side tests use (the fake agent runs on the host in the unit layer;
# and ShellCheck lints every script). Idempotent.
set -Eeuo pipefail

hostpkg_main() {
  local missing=() pkg
  for pkg in bash curl jq openssl shellcheck git ca-certificates; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
  done
  ((${#missing[@]} == 0)) && return 0
  printf 'host-packages: apt-get install %s\n' "${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

hostpkg_main "$@"
