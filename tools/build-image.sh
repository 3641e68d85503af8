#!/usr/bin/env bash
#
# Builds the agent image from agent-image/ with the contract's build arguments
# (agent-image/generated/build-args.env, written by `npm run generate`).
#
# Usage: tools/build-image.sh [--tag T] [--base-image B] [--platform amd64|arm64]
#                             [--agent-package-url U --agent-package-sha256 S]
#   --tag                   image tag (default local/azp-agent:<image version from the contract>)
#   --base-image            FROM image (default: the Dockerfile's BASE_IMAGE, Debian stable)
#   --platform              target architecture (default: this machine's); another one needs
#                           user-mode emulation on the engine's machine and a base image of
#                           that architecture: bash tools/docker-up.sh multiarch makes both
#                           (local/debian:bookworm-arm64 on amd64)
#   --agent-package-url     agent tar.gz to bake in (default: Microsoft's URL for the pinned
#                           version); tests pass the fake server's package
#   --agent-package-sha256  its SHA-256 (default: the hash recorded in the contract)
#
# Runs `docker build --network host` (a build can reach a server on 127.0.0.1, e.g. the fake
# Azure DevOps serving a test package). The build log goes to stderr; stdout is the tag only.
# Exit codes: 0 built; 2 usage or build-args problem, a base image of another architecture, or
# no emulation for a foreign --platform; 3 no Docker engine reachable; 1 the built image is not
# of the requested architecture; otherwise docker build's code.
set -Eeuo pipefail

BUILD_IMAGE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BUILD_IMAGE_CONTEXT="${BUILD_IMAGE_REPO}/agent-image"
BUILD_IMAGE_ARGS_FILE="${BUILD_IMAGE_CONTEXT}/generated/build-args.env"

build_image_log() {
  printf 'build-image: %s\n' "$*" >&2
}

build_image_die() {
  local code="$1"
  shift
  build_image_log "error: $*"
  exit "${code}"
}

build_image_usage() {
  sed -n '/^# Usage:/,/^# Runs/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '$d' >&2
}

# build_image_docker: Debian's client matches Debian's daemon (tools/docker-up.sh); any
# docker on PATH works too. DOCKER overrides.
build_image_docker() {
  if [[ -n "${DOCKER:-}" ]]; then
    printf '%s\n' "${DOCKER}"
  elif [[ -x /usr/bin/docker ]]; then
    printf '/usr/bin/docker\n'
  else
    command -v docker || printf 'docker\n'
  fi
}

# build_image_host_arch: Docker's name for this machine's architecture.
build_image_host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) printf 'amd64\n' ;;
    aarch64 | arm64) printf 'arm64\n' ;;
    *) uname -m ;;
  esac
}

# build_image_qemu_name <arch>: QEMU's name of a Docker architecture (its binfmt_misc handler).
build_image_qemu_name() {
  case "$1" in
    arm64) printf 'aarch64\n' ;;
    amd64) printf 'x86_64\n' ;;
  esac
}

# build_image_check_emulation <arch>: a foreign architecture's RUN steps need a binfmt_misc
# handler with the F flag (the interpreter is not inside the build's containers). Checked only
# for a local engine: a remote one (DOCKER_HOST=tcp://, ssh://) has its own kernel.
build_image_check_emulation() {
  local arch="$1" entry
  [[ -z "${DOCKER_HOST:-}" || "${DOCKER_HOST}" == unix://* ]] || return 0
  entry="/proc/sys/fs/binfmt_misc/qemu-$(build_image_qemu_name "${arch}")"
  if [[ ! -r "${entry}" ]] || ! grep -qx enabled "${entry}" || ! grep -qE '^flags: [A-Z]*F' "${entry}"; then
    build_image_die 2 "--platform ${arch} needs ${arch} emulation (no enabled ${entry} with the F flag): run bash tools/docker-up.sh multiarch"
  fi
}

# build_image_image_arch <docker> <image>: the architecture an image's metadata names.
# Debian's classic builder (20.10) quietly builds `--platform linux/arm64` FROM a local amd64
# image into an amd64 image, so neither the base nor the result is taken on trust.
build_image_image_arch() {
  "$1" image inspect --format '{{.Architecture}}' "$2" 2>/dev/null
}

# build_image_read_args <file> <array name> <map name>: KEY=VALUE lines (comments and blank
# lines skipped) into --build-arg pairs and an associative array.
build_image_read_args() {
  local file="$1"
  local -n _args="$2"
  local -n _values="$3"
  [[ -f "${file}" ]] || build_image_die 2 "${file} is missing: run npm run generate"
  local line number=0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    number=$((number + 1))
    [[ -z "${line//[[:space:]]/}" || "${line}" == \#* ]] && continue
    [[ "${line}" =~ ^[A-Z][A-Z0-9_]*=.*$ ]] \
      || build_image_die 2 "${file}:${number}: not a KEY=VALUE line: ${line}"
    _values["${line%%=*}"]="${line#*=}"
    _args+=(--build-arg "${line}")
  done <"${file}"
}

build_image_main() {
  local tag="" base_image="" platform="" package_url="" package_sha=""
  while (($# > 0)); do
    case "$1" in
      --tag | --base-image | --platform | --agent-package-url | --agent-package-sha256)
        (($# >= 2)) || build_image_die 2 "$1 needs a value"
        case "$1" in
          --tag) tag="$2" ;;
          --base-image) base_image="$2" ;;
          --platform) platform="${2#linux/}" ;;
          --agent-package-url) package_url="$2" ;;
          --agent-package-sha256) package_sha="$2" ;;
        esac
        shift 2
        ;;
      -h | --help)
        build_image_usage
        return 0
        ;;
      *)
        build_image_usage
        build_image_die 2 "unknown argument: $1"
        ;;
    esac
  done
  if [[ -n "${package_url}" && -z "${package_sha}" ]]; then
    build_image_die 2 "--agent-package-url needs --agent-package-sha256 (nothing unverified is baked in)"
  fi
  if [[ -n "${package_sha}" && ! "${package_sha}" =~ ^[0-9a-fA-F]{64}$ ]]; then
    build_image_die 2 "--agent-package-sha256 must be 64 hex digits, got '${package_sha}'"
  fi

  local host_arch
  host_arch="$(build_image_host_arch)"
  platform="${platform:-${host_arch}}"
  [[ "${platform}" == amd64 || "${platform}" == arm64 ]] \
    || build_image_die 2 "--platform must be amd64 or arm64, got '${platform}'"

  local -a args=()
  local -A values=()
  build_image_read_args "${BUILD_IMAGE_ARGS_FILE}" args values
  local name
  for name in AZP_IMAGE_SOURCE AZP_IMAGE_DESCRIPTION; do
    [[ -n "${values[${name}]:-}" ]] \
      || build_image_log "note: ${BUILD_IMAGE_ARGS_FILE##*/} has no ${name}: its OCI label stays empty"
  done
  tag="${tag:-local/azp-agent:${values[AZP_IMAGE_VERSION]:-dev}}"

  args+=(--build-arg "TARGETARCH=${platform}")
  [[ "${platform}" == "${host_arch}" ]] || args+=(--platform "linux/${platform}")
  [[ -z "${base_image}" ]] || args+=(--build-arg "BASE_IMAGE=${base_image}")
  [[ -z "${package_url}" ]] || args+=(--build-arg "AGENT_PACKAGE_URL=${package_url}")
  [[ -z "${package_sha}" ]] || args+=(--build-arg "AGENT_PACKAGE_SHA256=${package_sha,,}")

  local docker
  docker="$(build_image_docker)"
  if ! "${docker}" info >/dev/null 2>&1; then
    build_image_die 3 "no Docker engine reachable through '${docker}' (start one with: bash tools/docker-up.sh engine, or set DOCKER_HOST)"
  fi

  if [[ "${platform}" != "${host_arch}" ]]; then
    build_image_check_emulation "${platform}"
  fi
  local base_arch
  # A base that is not local yet is pulled for --platform; a local one is used whatever it is.
  if [[ -n "${base_image}" ]] && base_arch="$(build_image_image_arch "${docker}" "${base_image}")" \
    && [[ "${base_arch}" != "${platform}" ]]; then
    local hint=""
    [[ "${platform}" == "${host_arch}" ]] || hint=" (bash tools/docker-up.sh multiarch makes one: local/debian:bookworm-${platform})"
    build_image_die 2 "--base-image ${base_image} is ${base_arch}, not ${platform}: pass a linux/${platform} base${hint}"
  fi

  build_image_log "building ${tag} (${platform}${base_image:+, FROM ${base_image}})"
  "${docker}" build --network host --tag "${tag}" "${args[@]}" "${BUILD_IMAGE_CONTEXT}" >&2
  local built_arch
  built_arch="$(build_image_image_arch "${docker}" "${tag}")" || built_arch="(none)"
  [[ "${built_arch}" == "${platform}" ]] \
    || build_image_die 1 "${tag} was built as ${built_arch}, not ${platform}"
  printf '%s\n' "${tag}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  build_image_main "$@"
fi
