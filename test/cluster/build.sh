#!/usr/bin/env bash
# Installs and builds what the local test cluster runs; every step is skipped when its pinned
# result is already there, so a warm run takes well under a second.
#   - Debian packages: containerd, runc, CNI plugins, iptables, conntrack, openssl, gcc, ...
#   - Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#     kube-proxy, kubectl) and etcd, compiled from the Go module proxy into .cache/cluster/bin
#     (CGO_ENABLED=0, -trimpath, -ldflags '-s -w'; GOMODCACHE/GOCACHE are Go's defaults, so
#     other clones on the machine share them),
#   - the pod sandbox ("pause") image as an OCI archive (.cache/cluster/images/pause.oci.tar),
#     from test/cluster/pause/pause.c; up.sh imports it into the cluster's containerd.
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
  mkdir -p "${work}/rootfs" "${work}/oci/blobs/sha256" "${CL_CACHE}/images"
  gcc -Os -Wall -Wextra -Werror -static -s -o "${work}/rootfs/pause" "${CL_SRC}/pause/pause.c"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${work}/rootfs" -cf "${work}/layer.tar" pause
  local layer_digest layer_size config_digest config_size manifest_digest manifest_size
  layer_digest="$(sha256sum "${work}/layer.tar" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "${work}/layer.tar")"
  mv "${work}/layer.tar" "${work}/oci/blobs/sha256/${layer_digest}"
  printf '{"architecture":"amd64","os":"linux","config":{"User":"65535:65535","Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "${layer_digest}" >"${work}/config.json"
  config_digest="$(sha256sum "${work}/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "${work}/config.json")"
  mv "${work}/config.json" "${work}/oci/blobs/sha256/${config_digest}"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "${config_digest}" "${config_size}" "${layer_digest}" "${layer_size}" >"${work}/manifest.json"
  manifest_digest="$(sha256sum "${work}/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "${work}/manifest.json")"
  mv "${work}/manifest.json" "${work}/oci/blobs/sha256/${manifest_digest}"
  printf '{"imageLayoutVersion":"1.0.0"}' >"${work}/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "${manifest_digest}" "${manifest_size}" "${CL_PAUSE_IMAGE}" "${CL_PAUSE_IMAGE##*:}" >"${work}/oci/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${work}/oci" -cf "${out}.tmp" .
  mv "${out}.tmp" "${out}"
  printf '%s\n' "${stamp}" >"${out}.stamp"
  rm -rf "${work}"
}

build_record_versions() {
  local f="${CL_BIN}/VERSIONS"
  {
    printf 'kubernetes %s\netcd %s\ngo %s\n' "${CL_KUBE_VERSION}" "${CL_ETCD_VERSION}" "$(go env GOVERSION)"
    dpkg-query -W -f='${Package} ${Version}\n' containerd runc containernetworking-plugins 2>/dev/null
    printf 'pause-image %s\n' "${CL_PAUSE_IMAGE}"
  } >"${f}.tmp"
  mv "${f}.tmp" "${f}"
}

build_main() {
  local started
  started="$(cl_now)"
  build_apt
  build_kube
  build_pause_image
  build_record_versions
  cl_log "build ready in $(cl_elapsed "${started}")s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  build_main "$@"
fi
