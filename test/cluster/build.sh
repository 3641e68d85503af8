#!/usr/bin/env bash
# Installs and builds what the local test cluster runs; every step is skipped when its pinned
# result is already there, so a warm run takes well under a second.
#   - Debian packages: containerd, runc, CNI plugins, iptables, conntrack, openssl, gcc, ...
#   - Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#     kube-proxy, kubectl) and etcd, compiled from the Go module proxy into .cache/cluster/bin
#     (CGO_ENABLED=0, -trimpath, -ldflags '-s -w'; GOMODCACHE/GOCACHE are Go's defaults, so
#     other clones on the machine share them),
#   - the pod sandbox ("pause") image as an OCI archive (.cache/cluster/images/pause.oci.tar),
#     from test/cluster/pause/pause.c; up.sh imports it into the cluster's containerd,
#   - KEDA's operator and its image archive (keda.sh build; `keda.sh up`, run by up.sh, deploys it).
#   - kube-router, its network policy controller only (netpol.sh build; up.sh starts it).
# Usage: test/cluster/build.sh
set -Eeuo pipefail
CL_SCRIPT="cluster-build"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tools/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/apt.sh"

CL_KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
CL_BINARIES=("${CL_KUBE_CMDS[@]}" etcd)

build_apt() {
  # No systemd here: the etcd and containerd packages do not start services of their own;
  # up.sh runs its own instances with their own ports, sockets and state.
  apt_install "${CL_APT_PACKAGES[@]}"
}

build_check_gomod() {
  local gomod="${CL_SRC}/gomod/go.mod"
  grep -qE "^(require)?\s+k8s.io/kubernetes ${CL_KUBE_VERSION}( |\$)" "${gomod}" \
    || cl_die "${gomod} does not require k8s.io/kubernetes ${CL_KUBE_VERSION} (CL_KUBE_VERSION in lib.sh)"
  grep -qE "^\s+go.etcd.io/etcd/server/v3 ${CL_ETCD_VERSION}( |\$)" "${gomod}" \
    || cl_die "${gomod} does not require go.etcd.io/etcd/server/v3 ${CL_ETCD_VERSION} (CL_ETCD_VERSION in lib.sh)"
  local staging="v0.${CL_KUBE_VERSION#v1.}"
  if grep -E '^\s+k8s.io/[a-z0-9-]+ => ' "${gomod}" | grep -vq " ${staging}\$"; then
    cl_die "${gomod}: every staging replace must point at ${staging}"
  fi
}

# The stamp names the version, the module files and the flags: a change to any rebuilds.
build_kube_stamp() {
  {
    printf '%s\n' "${CL_KUBE_VERSION}" "${CL_ETCD_VERSION}" "$(go env GOVERSION)" "$*"
    cat "${CL_SRC}/gomod/go.mod" "${CL_SRC}/gomod/go.sum"
  } | sha256sum | cut -d' ' -f1
}

build_kube() {
  command -v go >/dev/null || cl_die "go is not on PATH (Go >= 1.25 is needed to build Kubernetes ${CL_KUBE_VERSION})"
  build_check_gomod
  local major_minor="${CL_KUBE_VERSION#v}"
  major_minor="${major_minor%.*}"
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${CL_KUBE_VERSION} -X ${pkg}.gitMajor=${major_minor%%.*}"
    ldflags+=" -X ${pkg}.gitMinor=${major_minor#*.} -X ${pkg}.gitTreeState=clean"
  done
  local stamp cmd complete=1
  stamp="$(build_kube_stamp "${ldflags}")"
  for cmd in "${CL_BINARIES[@]}"; do
    [[ -x "${CL_BIN}/${cmd}" ]] || complete=0
  done
  if ((complete)) && [[ "$(cat "${CL_BIN}/.kube-stamp" 2>/dev/null)" == "${stamp}" ]]; then
    cl_log "kubernetes ${CL_KUBE_VERSION} and etcd ${CL_ETCD_VERSION} binaries cached in ${CL_BIN}"
    return 0
  fi
  local started pkgs=()
  started="$(cl_now)"
  for cmd in "${CL_KUBE_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${cmd}"); done
  pkgs+=(go.etcd.io/etcd/server/v3) # main package; `go build -o DIR/` names it "server"
  mkdir -p "${CL_BIN}"
  rm -f "${CL_BIN}/.kube-stamp"
  cl_log "compiling kubernetes ${CL_KUBE_VERSION} (${CL_KUBE_CMDS[*]}) and etcd ${CL_ETCD_VERSION}; log: ${CL_CACHE}/build-kube.log"
  # One `go build` for all seven commands: the packages they share compile once.
  if ! (cd "${CL_SRC}/gomod" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local \
    go build -trimpath -ldflags="${ldflags}" -o "${CL_BIN}/" "${pkgs[@]}") >"${CL_CACHE}/build-kube.log" 2>&1; then
    tail -n 40 "${CL_CACHE}/build-kube.log" >&2
    cl_die "go build failed"
  fi
  mv -f "${CL_BIN}/server" "${CL_BIN}/etcd"
  printf '%s\n' "${stamp}" >"${CL_BIN}/.kube-stamp"
  cl_log "compiled kubernetes and etcd in $(cl_elapsed "${started}")s"
}

# A tiny OCI image archive, made without Docker: one layer with /pause, entrypoint /pause.
build_pause_image() {
  local out="${CL_CACHE}/images/pause.oci.tar"
  local stamp
  stamp="$(cat "${CL_SRC}/pause/pause.c" <(printf '%s' "${CL_PAUSE_IMAGE}") | sha256sum | cut -d' ' -f1)"
  if [[ -s "${out}" && "$(cat "${out}.stamp" 2>/dev/null)" == "${stamp}" ]]; then
    return 0
  fi
  cl_log "building pause image ${CL_PAUSE_IMAGE}"
  local work
  work="$(mktemp -d)"
  mkdir -p "${work}/rootfs"
  gcc -Os -Wall -Wextra -Werror -static -s -o "${work}/rootfs/pause" "${CL_SRC}/pause/pause.c"
  cl_oci_image "${work}/rootfs" "${CL_PAUSE_IMAGE}" "${out}" '{"User":"65535:65535","Entrypoint":["/pause"]}'
  rm -rf "${work}"
  printf '%s\n' "${stamp}" >"${out}.stamp"
}

build_record_versions() {
  local f="${CL_BIN}/VERSIONS"
  {
    printf 'kubernetes %s\netcd %s\ngo %s\n' "${CL_KUBE_VERSION}" "${CL_ETCD_VERSION}" "$(go env GOVERSION)"
    dpkg-query -W -f='${Package} ${Version}\n' containerd runc containernetworking-plugins 2>/dev/null
    printf 'pause-image %s\n' "${CL_PAUSE_IMAGE}"
    printf 'keda %s\n' "${CL_KEDA_VERSION}"
    printf 'kube-router %s\n' "${CL_KUBE_ROUTER_VERSION}"
  } >"${f}.tmp"
  mv "${f}.tmp" "${f}"
}

build_main() {
  local started
  started="$(cl_now)"
  build_apt
  build_kube
  build_pause_image
  bash "${CL_SRC}/keda.sh" build
  bash "${CL_SRC}/netpol.sh" build
  build_record_versions
  cl_log "build ready in $(cl_elapsed "${started}")s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  build_main "$@"
fi
