#!/usr/bin/env bash
# Brings up what the image and cluster tests need on a bare Debian machine:
#   - a Docker engine (Debian's docker.io; no image registry is reachable here),
#   - a local OCI registry on 127.0.0.1:5000 (Debian's docker-registry),
#   - the base image local/debian:bookworm, made with debootstrap + docker import,
# and, on request, what a foreign-architecture (arm64 on amd64) image build needs:
#   - user-mode emulation: Debian's qemu-user-static, registered with binfmt_misc with the F
#     (fix-binary) flag so that containers, which do not have the interpreter, can use it,
#   - the base image for that architecture, made the same way: local/debian:bookworm-arm64.
# Idempotent: each step is skipped when its result is already there.
# Usage: tools/docker-up.sh [all|engine|registry|base|emulation|multiarch]   (default: all)
#   all        engine, registry and the host architecture's base (what the tests need)
#   emulation  qemu-user-static + the binfmt_misc handler for arm64 (amd64 on an arm64 host)
#   multiarch  engine, emulation and that architecture's base, checked to run
#              (test/image/arm64.test.ts; not in `all`: a cold arm64 debootstrap is emulated)
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

# dockerup_host_arch: Debian's (and Docker's) name for this machine's architecture.
dockerup_host_arch() {
  dpkg --print-architecture
}

# dockerup_base_tag <arch>: the host architecture's base keeps the plain tag every test and
# script uses; another architecture's base carries its name as a suffix (local/debian:bookworm-arm64).
dockerup_base_tag() {
  local arch="$1"
  if [[ "${arch}" == "$(dockerup_host_arch)" ]]; then
    printf '%s\n' "${BASE_IMAGE_TAG}"
  else
    printf '%s-%s\n' "${BASE_IMAGE_TAG}" "${arch}"
  fi
}

# dockerup_qemu_name <arch>: QEMU's name of a Debian architecture (the binfmt handler's name).
dockerup_qemu_name() {
  case "$1" in
    arm64) printf 'aarch64\n' ;;
    amd64) printf 'x86_64\n' ;;
    *) dockerup_log "error: no emulation known for architecture '$1' (arm64 or amd64)"; return 2 ;;
  esac
}

# dockerup_emulation <arch>: Debian's qemu-user-static and its binfmt_misc handler, registered
# with the F flag: the kernel opens the interpreter once, at registration, so a container (whose
# root has no /usr/libexec/qemu-binfmt) can still run the architecture's binaries. Debian's
# package registers through systemd-binfmt or binfmt-support's update-binfmts, neither of which
# runs on a machine without systemd, so the line of its binfmt.d file is written to the kernel here.
dockerup_emulation() {
  local arch="$1" qemu
  [[ "${arch}" != "$(dockerup_host_arch)" ]] || { dockerup_log "no emulation needed for the host architecture ${arch}"; return 0; }
  qemu="$(dockerup_qemu_name "${arch}")"
  apt_install qemu-user-static
  local binfmt=/proc/sys/fs/binfmt_misc
  if [[ ! -e "${binfmt}/register" ]]; then
    dockerup_log "mounting binfmt_misc at ${binfmt}"
    mount -t binfmt_misc binfmt_misc "${binfmt}" \
      || { dockerup_log "error: cannot mount binfmt_misc at ${binfmt} (needs root and the binfmt_misc kernel module)"; return 1; }
  fi
  local entry="${binfmt}/qemu-${qemu}"
  if [[ -e "${entry}" ]] && ! grep -qE '^flags: [A-Z]*F' "${entry}"; then
    # Registered without F (e.g. by binfmt-support's defaults elsewhere): useless inside containers.
    dockerup_log "replacing the qemu-${qemu} handler registered without the F flag ($(grep '^flags:' "${entry}"))"
    echo -1 >"${entry}"
  fi
  if [[ ! -e "${entry}" ]]; then
    local conf="/usr/lib/binfmt.d/qemu-${qemu}.conf" line
    [[ -r "${conf}" ]] || { dockerup_log "error: ${conf} is missing (qemu-user-static installed?)"; return 1; }
    line="$(grep -m1 "^:qemu-${qemu}:" "${conf}")" \
      || { dockerup_log "error: ${conf} has no :qemu-${qemu}: registration line"; return 1; }
    # Debian's line already asks for F (flags OPF); add it should a future package not.
    [[ "${line##*:}" == *F* ]] || line="${line}F"
    dockerup_log "registering the qemu-${qemu} handler (flags ${line##*:}) from ${conf}"
    printf '%s\n' "${line}" >"${binfmt}/register" \
      || { dockerup_log "error: the kernel refused the binfmt_misc registration from ${conf}"; return 1; }
  fi
  grep -qx enabled "${entry}" || echo 1 >"${entry}"
  grep -qx enabled "${binfmt}/status" || echo 1 >"${binfmt}/status"
  local interpreter
  interpreter="$(sed -n 's/^interpreter //p' "${entry}")"
  [[ -x "${interpreter}" ]] || { dockerup_log "error: the qemu-${qemu} handler's interpreter ${interpreter} is not executable"; return 1; }
  dockerup_log "emulation for ${arch} ready (${interpreter}, $(grep '^flags:' "${entry}"))"
}

# dockerup_base [arch]: the minbase Debian image of an architecture (default: this machine's),
# from a cached debootstrap tarball. A foreign architecture needs dockerup_emulation first:
# debootstrap's second stage runs the architecture's dpkg and maintainer scripts in a chroot,
# through the F-flagged handler (nothing is copied into the root file system).
dockerup_base() {
  local arch="${1:-$(dockerup_host_arch)}" tag
  tag="$(dockerup_base_tag "${arch}")"
  local present
  if present="$("${DOCKER}" image inspect --format '{{.Os}}/{{.Architecture}}' "${tag}" 2>/dev/null)"; then
    if [[ "${present}" == "linux/${arch}" ]]; then
      dockerup_log "base image ${tag} present"
      return 0
    fi
    dockerup_log "base image ${tag} is ${present}, not linux/${arch}: importing it again"
  fi
  local dir="${CACHE}/base"
  local tarball="${dir}/debian-bookworm-${arch}-minbase.tar" rootfs="${dir}/rootfs-${arch}" log="${dir}/debootstrap-${arch}.log"
  if [[ ! -s "${tarball}" ]]; then
    apt_install debootstrap
    rm -rf "${rootfs}" && mkdir -p "${dir}"
    dockerup_log "debootstrap bookworm ${arch} (minbase) from $(dockerup_mirror) (log: ${log})"
    local started="${SECONDS}"
    debootstrap --arch="${arch}" --variant=minbase bookworm "${rootfs}" "$(dockerup_mirror)" >"${log}" 2>&1 \
      || { tail -n 30 "${log}" >&2; dockerup_log "error: debootstrap ${arch} failed (full log: ${log})"; return 1; }
    dockerup_log "debootstrap ${arch} took $((SECONDS - started))s"
    # Same sources inside the image as on the host, so `apt-get install` in docker build works.
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$(dockerup_mirror)" "$(dockerup_mirror)" \
      >"${rootfs}/etc/apt/sources.list"
    rm -rf "${rootfs}/var/cache/apt/archives/"*.deb "${rootfs}/var/lib/apt/lists/"*
    tar --numeric-owner -C "${rootfs}" -cf "${tarball}.tmp" . && mv "${tarball}.tmp" "${tarball}"
    rm -rf "${rootfs}"
  fi
  dockerup_import "${tarball}" "${arch}" "${tag}"
}

# dockerup_import <rootfs tarball> <arch> <tag>: the tarball as a one-layer image whose metadata
# names its architecture. `docker import --platform` cannot do that on Debian's engine (20.10
# records only the OS and stamps its own architecture), so the image goes through `docker load`
# of an archive in `docker save`'s layout with a config written here. The config is derived from
# the tarball alone (created = its mtime), so the same tarball always gives the same image ID.
dockerup_import() {
  local tarball="$1" arch="$2" tag="$3"
  local staging diff created
  mkdir -p "${CACHE}/base"
  staging="$(mktemp -d "${CACHE}/base/load.XXXXXX")"
  diff="$(sha256sum "${tarball}" | cut -d' ' -f1)"
  created="$(date -u -d "@$(stat -c %Y "${tarball}")" +%Y-%m-%dT%H:%M:%SZ)"
  mkdir -p "${staging}/${diff}"
  ln "${tarball}" "${staging}/${diff}/layer.tar" 2>/dev/null || cp "${tarball}" "${staging}/${diff}/layer.tar"
  jq -cn --arg arch "${arch}" --arg diff "sha256:${diff}" --arg created "${created}" --arg from "${tarball##*/}" '{
      architecture: $arch, os: "linux", created: $created,
      config: { Cmd: ["/bin/bash"] },
      rootfs: { type: "layers", diff_ids: [$diff] },
      history: [{ created: $created, created_by: ("tools/docker-up.sh: debootstrap --variant=minbase (" + $from + ")") }]
    }' >"${staging}/config.json"
  local config
  config="$(sha256sum "${staging}/config.json" | cut -d' ' -f1)"
  mv "${staging}/config.json" "${staging}/${config}.json"
  jq -cn --arg config "${config}.json" --arg tag "${tag}" --arg layer "${diff}/layer.tar" \
    '[{ Config: $config, RepoTags: [$tag], Layers: [$layer] }]' >"${staging}/manifest.json"
  dockerup_log "docker load -> ${tag} (linux/${arch})"
  local out
  if ! out="$(tar -C "${staging}" -c . | "${DOCKER}" load 2>&1)"; then
    rm -rf "${staging}"
    dockerup_log "error: docker load of ${tarball} failed: ${out}"
    return 1
  fi
  rm -rf "${staging}"
  local actual
  actual="$("${DOCKER}" image inspect --format '{{.Os}}/{{.Architecture}}' "${tag}")"
  [[ "${actual}" == "linux/${arch}" ]] \
    || { dockerup_log "error: ${tag} says platform '${actual}', expected linux/${arch}"; return 1; }
}

# dockerup_check_run <arch>: a container of the architecture's base really runs its binaries.
dockerup_check_run() {
  local arch="$1" tag expected machine
  tag="$(dockerup_base_tag "${arch}")"
  expected="$(dockerup_qemu_name "${arch}")"
  machine="$("${DOCKER}" run --rm --platform "linux/${arch}" --network none "${tag}" uname -m 2>&1)" \
    || { dockerup_log "error: cannot run ${tag}: ${machine}"; return 1; }
  [[ "${machine}" == "${expected}" ]] \
    || { dockerup_log "error: ${tag} runs as '${machine}', expected ${expected}"; return 1; }
  dockerup_log "${tag} runs (uname -m: ${machine})"
}

# dockerup_foreign_arch: the other architecture of a release (arm64 here, amd64 on an arm64 host).
dockerup_foreign_arch() {
  case "$(dockerup_host_arch)" in
    amd64) printf 'arm64\n' ;;
    arm64) printf 'amd64\n' ;;
    *) dockerup_log "error: multi-arch builds know amd64 and arm64 hosts only, not $(dockerup_host_arch)"; return 2 ;;
  esac
}

# dockerup_multiarch: everything a build for the foreign architecture needs on this machine.
dockerup_multiarch() {
  local arch
  arch="$(dockerup_foreign_arch)"
  dockerup_engine && dockerup_emulation "${arch}" && dockerup_base "${arch}" && dockerup_check_run "${arch}"
}

dockerup_main() {
  case "${1:-all}" in
    engine) dockerup_engine ;;
    registry) dockerup_registry ;;
    base) dockerup_engine && dockerup_base ;;
    all) dockerup_engine && dockerup_registry && dockerup_base ;;
    emulation) dockerup_emulation "$(dockerup_foreign_arch)" ;;
    multiarch) dockerup_multiarch ;;
    *) dockerup_log "usage: $0 [all|engine|registry|base|emulation|multiarch]"; return 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  dockerup_main "$@"
fi
