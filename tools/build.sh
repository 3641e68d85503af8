#!/usr/bin/env bash
# The main job: regenerate the chart from the generator, package it into dist/, and build the
# agent image when a Docker engine is reachable.
#
#   npm run build                       chart + image (image skipped, with a reason, when impossible)
#   npm run build -- --require-image    fail instead of skipping the image
#   AZP_AGENT_PACKAGE_URL=… AZP_AGENT_PACKAGE_SHA256=… npm run build
#                                       bake an agent package from a mirror (see agent-image/README.md)
#   AZP_BASE_IMAGE=…  npm run build     another base image (default: the Dockerfile's Debian stable)
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"

build_log() { printf 'build: %s\n' "$*" >&2; }

build_main() {
  local require_image=false
  [[ "${1:-}" == "--require-image" ]] && require_image=true

  build_log "generating the chart and the image contract (npm run generate)"
  npx --no-install tsx generator/cli.ts

  bash tools/install-tools.sh >/dev/null
  mkdir -p dist
  build_log "packaging the chart"
  "${REPO}/.cache/tools/bin/helm" package chart/azp-agent --destination dist

  local -a image_args=()
  [[ -n "${AZP_BASE_IMAGE:-}" ]] && image_args+=(--base-image "${AZP_BASE_IMAGE}")
  [[ -n "${AZP_AGENT_PACKAGE_URL:-}" ]] && image_args+=(--agent-package-url "${AZP_AGENT_PACKAGE_URL}")
  [[ -n "${AZP_AGENT_PACKAGE_SHA256:-}" ]] && image_args+=(--agent-package-sha256 "${AZP_AGENT_PACKAGE_SHA256}")
  local status=0
  bash tools/build-image.sh "${image_args[@]}" || status=$?
  if ((status == 0)); then
    build_log "done: chart in dist/, image built"
  elif [[ "${require_image}" == false ]]; then
    build_log "done: chart in dist/; the image was NOT built (reason above, exit ${status}); use --require-image to make this fatal"
  else
    build_log "the image could not be built (exit ${status})"
    return "${status}"
  fi
}

build_main "$@"
