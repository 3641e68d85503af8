#!/usr/bin/env bash
# Brings up what the image and cluster tests need on a bare Debian machine:
#   - a Docker engine (Debian's docker.io; no image registry is reachable here),
#   - a local OCI registry on 127.0.0.1:5000 (Debian's docker-registry),
#   - the base image local/debian:bookworm, made with debootstrap + docker import.
# Idempotent: each step is skipped when its result is already there.
# Usage: tools/docker-up.sh [all|engine|registry|base]   (default: all)
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${AZP_CACHE_DIR:-${REPO}/.cache}"
# shellcheck source=tools/apt.sh
source "${REPO}/tools/apt.sh"
REGISTRY_ADDR="${REGISTRY_ADDR:-127.0.0.1:5000}"
BASE_IMAGE_TAG="${BASE_IMAGE_TAG:-local/debian:bookworm}"
# Debian's client matches Debian's daemon (20.10); a newer client elsewhere on PATH also works
# through API negotiation, but we prefer the pair that ships together.
DOCKER="${DOCKER:-$(command -v /usr/bin/docker || command -v docker || true)}"

dockerup_log() { printf 'docker-up: %s\n' "$*" >&2; }

dockerup_engine() {
  apt_install docker.io iptables ca-certificates
  DOCKER=/usr/bin/docker
  if "${DOCKER}" info >/dev/null 2>&1; then
    dockerup_log "engine already running"
    return 0
  fi
  mkdir -p "${CACHE}/docker"
  dockerup_log "starting dockerd (log: ${CACHE}/docker/dockerd.log)"
  # setsid: the daemon must outlive the shell that started it (CI starts it from .ci/run).
  setsid dockerd --storage-driver overlay2 --host unix:///var/run/docker.sock \
    >"${CACHE}/docker/dockerd.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 60); do
    "${DOCKER}" info >/dev/null 2>&1 && { dockerup_log "engine up after ${i}s"; return 0; }
    sleep 1
  done
  tail -n 30 "${CACHE}/docker/dockerd.log" >&2
  dockerup_log "error: dockerd did not become ready in 60s"
  return 1
}

dockerup_registry() {
  apt_install docker-registry
  if curl -fsS "http://${REGISTRY_ADDR}/v2/" >/dev/null 2>&1; then
    dockerup_log "registry already serving on ${REGISTRY_ADDR}"
    return 0
  fi
  local dir="${CACHE}/registry"
  mkdir -p "${dir}/data"
  cat >"${dir}/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: ${REGISTRY_ADDR}
EOF
  dockerup_log "starting docker-registry on ${REGISTRY_ADDR}"
  setsid docker-registry serve "${dir}/config.yml" >"${dir}/registry.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 30); do
    curl -fsS "http://${REGISTRY_ADDR}/v2/" >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 30 "${dir}/registry.log" >&2
  dockerup_log "error: registry did not answer on ${REGISTRY_ADDR}"
  return 1
}

dockerup_mirror() {
  # The Debian mirror this machine is configured with (deb822 or one-line format).
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')"
  [[ -n "${uri}" ]] || uri="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')"
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

dockerup_base() {
  if "${DOCKER}" image inspect "${BASE_IMAGE_TAG}" >/dev/null 2>&1; then
    dockerup_log "base image ${BASE_IMAGE_TAG} present"
    return 0
  fi
  local dir="${CACHE}/base"
  local tarball="${dir}/debian-bookworm-minbase.tar"
  if [[ ! -s "${tarball}" ]]; then
    apt_install debootstrap
    rm -rf "${dir}/rootfs" && mkdir -p "${dir}"
    dockerup_log "debootstrap bookworm (minbase) from $(dockerup_mirror)"
    debootstrap --variant=minbase bookworm "${dir}/rootfs" "$(dockerup_mirror)" >"${dir}/debootstrap.log" 2>&1 \
      || { tail -n 30 "${dir}/debootstrap.log" >&2; return 1; }
    # Same sources inside the image as on the host, so `apt-get install` in docker build works.
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$(dockerup_mirror)" "$(dockerup_mirror)" \
      >"${dir}/rootfs/etc/apt/sources.list"
    rm -rf "${dir}/rootfs/var/cache/apt/archives/"*.deb "${dir}/rootfs/var/lib/apt/lists/"*
    tar --numeric-owner -C "${dir}/rootfs" -cf "${tarball}.tmp" . && mv "${tarball}.tmp" "${tarball}"
    rm -rf "${dir}/rootfs"
  fi
  dockerup_log "docker import -> ${BASE_IMAGE_TAG}"
  "${DOCKER}" import --change 'CMD ["/bin/bash"]' "${tarball}" "${BASE_IMAGE_TAG}" >/dev/null
}

dockerup_main() {
  case "${1:-all}" in
    engine) dockerup_engine ;;
    registry) dockerup_registry ;;
    base) dockerup_engine && dockerup_base ;;
    all) dockerup_engine && dockerup_registry && dockerup_base ;;
    *) dockerup_log "usage: $0 [all|engine|registry|base]"; return 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  dockerup_main "$@"
fi
