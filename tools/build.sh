#!/usr/bin/env bash
# The main job: regenerate the chart from the generator, package it into dist/, and build the
# agent image for this machine's architecture — on a fresh machine too: what is missing (the
# toolchain, a Docker engine, a base image) is brought up the way the tests do it.
#
#   npm run build                       chart + image; fails, saying why, when the image cannot be built
#   npm run build -- --chart-only       the chart alone (no Docker needed)
#   AZP_AGENT_PACKAGE_URL=… AZP_AGENT_PACKAGE_SHA256=… npm run build
#                                       bake an agent package from a mirror (see agent-image/README.md)
#   AZP_BASE_IMAGE=…  npm run build     another base image (default: the Dockerfile's Debian stable;
#                                       when it cannot be pulled, a Debian base made with debootstrap)
# Releases (both architectures, signed, pushed): tools/release.sh.
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"

build_log() { printf 'build: %s\n' "$*" >&2; }
build_die() {
  build_log "error: $*"
  exit 1
}

# build_engine: a reachable Docker engine, started with tools/docker-up.sh when this machine can
# (root with apt: Debian's docker.io), else a clear error.
build_engine() {
  local docker
  docker="$(command -v /usr/bin/docker || command -v docker || true)"
  [[ -n "${docker}" ]] && "${docker}" info >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    build_log "no Docker engine reachable: starting one (tools/docker-up.sh engine)"
    bash tools/docker-up.sh engine
    return 0
  fi
  build_die "no Docker engine reachable and this machine cannot start one here (not root with apt): start Docker or set DOCKER_HOST, or build the chart alone with: npm run build -- --chart-only"
}

# build_base_image: prints the base image to build FROM ("" = the Dockerfile's default, pullable).
build_base_image() {
  if [[ -n "${AZP_BASE_IMAGE:-}" ]]; then
    printf '%s\n' "${AZP_BASE_IMAGE}"
    return 0
  fi
  local default docker
  docker="$(command -v /usr/bin/docker || command -v docker)"
  default="$(sed -n 's/^ARG BASE_IMAGE=//p' agent-image/Dockerfile)"
  if "${docker}" image inspect "${default}" >/dev/null 2>&1 || timeout 120 "${docker}" pull --quiet "${default}" >/dev/null 2>&1; then
    printf '\n'
    return 0
  fi
  build_log "${default} cannot be pulled here: making a Debian base with debootstrap (tools/docker-up.sh base)"
  bash tools/docker-up.sh base >&2
  printf '%s\n' "${BASE_IMAGE_TAG:-local/debian:bookworm}"
}

# build_package_reachable: the agent package the image bakes must be downloadable; say what to do
# when it is not (no internet access) instead of failing inside docker build.
build_package_reachable() {
  local url="${AZP_AGENT_PACKAGE_URL:-}"
  if [[ -z "${url}" ]]; then
    local arch
    case "$(uname -m)" in aarch64 | arm64) arch=ARM64 ;; *) arch=X64 ;; esac
    url="$(sed -n "s/^AZP_AGENT_PACKAGE_URL_LINUX_${arch}=//p" agent-image/generated/build-args.env)"
  fi
  curl --disable --silent --show-error --fail --location --head --max-time 30 --output /dev/null "${url}" 2>/dev/null \
    || build_die "the agent package ${url} cannot be downloaded from here (no internet access?): bake one from a mirror with AZP_AGENT_PACKAGE_URL=<url> AZP_AGENT_PACKAGE_SHA256=<its SHA-256 from the agent's release notes> npm run build, or build the chart alone with --chart-only"
}

build_main() {
  local chart_only=false
  case "${1:-}" in
    "") ;;
    --chart-only) chart_only=true ;;
    *) build_die "unknown argument '$1' (usage: npm run build [-- --chart-only])" ;;
  esac

  build_log "generating the chart and the image contract (npm run generate)"
  npx --no-install tsx generator/cli.ts

  bash tools/install-tools.sh chart >/dev/null
  mkdir -p dist
  build_log "packaging the chart"
  "${REPO}/.cache/tools/bin/helm" package chart/azp-agent --destination dist
  [[ "${chart_only}" == false ]] || { build_log "done: chart in dist/ (image not requested)"; return 0; }

  build_engine
  build_package_reachable
  local base
  base="$(build_base_image)"
  local -a image_args=()
  [[ -z "${base}" ]] || image_args+=(--base-image "${base}")
  [[ -n "${AZP_AGENT_PACKAGE_URL:-}" ]] && image_args+=(--agent-package-url "${AZP_AGENT_PACKAGE_URL}")
  [[ -n "${AZP_AGENT_PACKAGE_SHA256:-}" ]] && image_args+=(--agent-package-sha256 "${AZP_AGENT_PACKAGE_SHA256}")
  local tag
  tag="$(bash tools/build-image.sh "${image_args[@]}")"
  build_log "done: chart in dist/, image ${tag}"
}

build_main "$@"
