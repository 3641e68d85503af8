#!/bin/bash
# Builds the fake agent package: a tar.gz laid out like vsts-agent-<platform>-<version>.tar.gz
# (contract §3.4/§4.1: `tar -czf OUT -C layout .`, no top-level directory, exec bits set).
#
# Usage: build-package.sh OUT.tar.gz [--version 4.264.2] [--platform linux-x64] [--pad-mb N]
#   --pad-mb N  adds N MiB of incompressible filler under bin/ so benchmarks can serve a package
#               of realistic size (~170 MB like the real one).
set -Eeuo pipefail

build_usage() {
  echo "Usage: $0 OUT.tar.gz [--version 4.264.2] [--platform linux-x64] [--pad-mb N]" >&2
  exit 2
}

build_main() {
  local out="" version="4.264.2" platform="linux-x64" pad_mb=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --version) version="${2:-}"; shift 2 || build_usage ;;
      --platform) platform="${2:-}"; shift 2 || build_usage ;;
      --pad-mb) pad_mb="${2:-}"; shift 2 || build_usage ;;
      -h | --help) build_usage ;;
      -*) echo "unknown option: $1" >&2; build_usage ;;
      *)
        if [[ -n "${out}" ]]; then build_usage; fi
        out="$1"
        shift
        ;;
    esac
  done
  [[ -n "${out}" ]] || build_usage
  [[ "${version}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "--version must be major.minor.patch" >&2; exit 2; }
  [[ "${platform}" =~ ^[a-z0-9-]+$ ]] || { echo "--platform must look like linux-x64" >&2; exit 2; }
  [[ "${pad_mb}" =~ ^[0-9]+$ ]] || { echo "--pad-mb must be a whole number" >&2; exit 2; }

  local here staging
  here="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  staging="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '${staging}'" EXIT

  cp -R "${here}/layout/." "${staging}/"
  # mktemp makes the root 0700; extracting "./" would impose that on the target directory.
  chmod 0755 "${staging}" "${staging}/bin"

  # Stamp version and platform into the listener (§4.2: the version is fixed per package).
  local listener="${staging}/bin/Agent.Listener" content
  content="$(<"${listener}")"
  content="${content//__FAKE_AGENT_VERSION__/${version}}"
  content="${content//__FAKE_AGENT_PLATFORM__/${platform}}"
  printf '%s\n' "${content}" >"${listener}"

  chmod 0755 "${staging}/config.sh" "${staging}/run.sh" "${staging}/run-docker.sh" "${staging}/env.sh" \
    "${staging}/bin/Agent.Listener" "${staging}/bin/installdependencies.sh"
  chmod 0644 "${staging}/license.html"

  if [[ "${pad_mb}" -gt 0 ]]; then
    # AES-CTR keystream: incompressible, deterministic and fast (gzip cannot shrink it).
    openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass pass:fake-agent-padding </dev/zero 2>/dev/null |
      head -c "$((pad_mb * 1024 * 1024))" >"${staging}/bin/fake-padding.bin" || true
    if [[ "$(stat -c %s "${staging}/bin/fake-padding.bin")" != "$((pad_mb * 1024 * 1024))" ]]; then
      echo "could not write ${pad_mb} MiB of padding" >&2
      exit 1
    fi
  fi

  mkdir -p "$(dirname "${out}")"
  # Stable member order and metadata so the same inputs give the same archive (and hashValue).
  tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -czf "${out}" -C "${staging}" .
  echo "${out}"
}

build_main "$@"
