# shellcheck shell=bash
# Shared settings and helpers for test/cluster/{build,up,down,smoke}.sh. Sourced, never executed.
#
# Layout:
#   ${CL_CACHE}  = <repo>/.cache/cluster   kept between runs: binaries, pki, configs, images, logs,
#                                           containerd's content/snapshot store, kubeconfig, env
#   ${CL_RUN}    = /run/azp-cluster         per run, wiped by down.sh: sockets, pids, etcd data
#                                           (tmpfs), containerd state, kubelet root dir, CNI IPAM
# Every name that lives outside the repo (bridge, iptables chains, run dir, ports) carries "azp"
# so that down.sh removes only what up.sh made, never Docker's containers, bridge or chains.
# shellcheck disable=SC2034  # variables are consumed by the scripts that source this file

CL_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CL_SRC="${CL_REPO}/test/cluster"
CL_CACHE="${AZP_CLUSTER_CACHE:-${CL_REPO}/.cache/cluster}"
CL_RUN="/run/azp-cluster"
CL_BIN="${CL_CACHE}/bin"
CL_PKI="${CL_CACHE}/pki"
CL_ETC="${CL_CACHE}/etc"
CL_LOGS="${CL_CACHE}/logs"
CL_PIDS="${CL_RUN}/pids"
CL_KUBECONFIG="${CL_CACHE}/kubeconfig"
CL_ENV_FILE="${CL_CACHE}/env"

# --- Pinned versions ---------------------------------------------------------------------------
# Kubernetes: compiled from the Go module proxy; the same version is pinned in gomod/go.mod
# (require k8s.io/kubernetes + one replace per staging module); build.sh refuses a mismatch.
# 1.34 is the newest minor whose kubelet still starts on cgroup v1 without opting out
# (1.35+ default failCgroupV1=true); the kubelet config sets failCgroupV1=false anyway.
CL_KUBE_VERSION="v1.34.12"
# etcd: go.etcd.io/etcd/server/v3 from the same go.mod, at the version of the etcd client that
# Kubernetes 1.34 uses (Debian's etcd-server 3.4.23 also works, but is older than the apiserver
# expects: no watch progress requests, "Too large resource version" timeouts in its log).
CL_ETCD_VERSION="v3.6.4"
# Debian bookworm packages (apt); build.sh records what got installed in ${CL_BIN}/VERSIONS.
# ipset: kube-router's network policy controller (netpol.sh) runs the ipset command.
CL_APT_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack
  iproute2 procps openssl gcc libc6-dev curl ca-certificates util-linux ipset)
CL_PAUSE_IMAGE="127.0.0.1:5000/azp/pause:3.10-azp1"   # built from pause/pause.c (build.sh)
# KEDA (operator only): github.com/kedacore/keda/v2 from the Go module proxy, built by keda.sh.
# >= 2.20: the azure-pipelines scaler no longer counts jobs that an agent has already received.
# 2.21 adds the trigger option scaleOnInFlight (default true), which the chart sets to false.
CL_KEDA_VERSION="v2.21.0"
# kube-router, network policy controller only (--run-firewall; no routing, no service proxy):
# github.com/cloudnativelabs/kube-router/v2 from the Go module proxy, built by netpol.sh. The
# CNI bridge plugin enforces no NetworkPolicy; kube-router's controller does, with iptables +
# ipset on the host. v2.1.0 is the only version the proxy serves here; security flaws are
# reported against it. Acceptable for this test-only, single-node, throwaway cluster (nothing
# untrusted runs in it, nothing of it is shipped); do not reuse this pin anywhere else.
CL_KUBE_ROUTER_VERSION="v2.1.0"
CL_KUBE_ROUTER_HEALTH_PORT=20244    # kube-router's default; it binds all addresses (":port")

# --- Network and ports (all on this machine) ----------------------------------------------------
CL_NODE_NAME="azp-node"
CL_BRIDGE="azp0"                    # the pods' bridge; up.sh creates it, so its IP is stable
CL_BRIDGE_MAC="02:00:0a:f4:00:01"   # fixed (locally administered): see up_host_network
CL_CLUSTER_CIDR="10.244.0.0/16"     # controller-manager --cluster-cidr; the node gets .0.0/24
CL_POD_CIDR="10.244.0.0/24"
CL_NODE_IP="10.244.0.1"             # bridge gateway = node InternalIP = apiserver advertise addr
CL_SERVICE_CIDR="10.96.0.0/24"
CL_KUBERNETES_SVC_IP="10.96.0.1"
CL_API_PORT="${AZP_CLUSTER_API_PORT:-6443}"
CL_ETCD_PORT=12379                  # not 2379: never collide with another etcd on the machine
CL_ETCD_PEER_PORT=12380
CL_REGISTRY="${REGISTRY_ADDR:-127.0.0.1:5000}"
CL_CTR_SOCK="${CL_RUN}/containerd.sock"
CL_CHAIN_FWD="AZP-CLUSTER-FWD"      # filter: accept pod traffic (Docker sets FORWARD policy DROP)
CL_CHAIN_NAT="AZP-CLUSTER-NAT"      # nat: masquerade pod traffic leaving the bridge
CL_CNI_NET="azp-pods"               # CNI network name (appears in CNI's iptables comments)

# Go lives outside the default PATH on some machines (e.g. /usr/local/go/bin).
[[ ":${PATH}:" == *":/usr/local/go/bin:"* ]] || PATH="${PATH}:/usr/local/go/bin"

cl_log() { printf '%s: %s\n' "${CL_SCRIPT:-cluster}" "$*" >&2; }
cl_die() { cl_log "error: $*"; exit 1; }

cl_now() { date +%s.%N; }
cl_elapsed() { awk -v a="$1" -v b="$(cl_now)" 'BEGIN { printf "%.1f", b - a }'; }

# cl_wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND every 0.2 s.
cl_wait_for() {
  local what="$1" timeout="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      cl_log "timed out after ${timeout}s waiting for: ${what}"
      return 1
    fi
    sleep 0.2
  done
}

# cl_oci_image ROOTFS_DIR IMAGE_NAME OUT_TAR CONFIG_JSON: an OCI image archive made without Docker,
# for `ctr images import`: one uncompressed layer holding everything under ROOTFS_DIR (sorted,
# mtime 0, owned by root: the same input gives the same bytes), CONFIG_JSON as the image config's
# "config" object (e.g. {"User":"65532:65532","Entrypoint":["/x"]}), the image's name and tag as
# annotations. Writes OUT_TAR.digest = the manifest digest (what containerd lists for the image).
cl_oci_image() {
  local rootfs="$1" name="$2" out="$3" config="$4"
  local arch work layer_digest layer_size config_digest config_size manifest_digest manifest_size
  arch="$(dpkg --print-architecture)"
  work="$(mktemp -d)"
  mkdir -p "${work}/oci/blobs/sha256" "$(dirname "${out}")"
  (cd "${rootfs}" && shopt -s dotglob && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -cf "${work}/layer.tar" -- *)
  layer_digest="$(sha256sum "${work}/layer.tar" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "${work}/layer.tar")"
  mv "${work}/layer.tar" "${work}/oci/blobs/sha256/${layer_digest}"
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "${arch}" "${config}" "${layer_digest}" >"${work}/config.json"
  config_digest="$(sha256sum "${work}/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "${work}/config.json")"
  mv "${work}/config.json" "${work}/oci/blobs/sha256/${config_digest}"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "${config_digest}" "${config_size}" "${layer_digest}" "${layer_size}" >"${work}/manifest.json"
  manifest_digest="$(sha256sum "${work}/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "${work}/manifest.json")"
  mv "${work}/manifest.json" "${work}/oci/blobs/sha256/${manifest_digest}"
  printf '{"imageLayoutVersion":"1.0.0"}' >"${work}/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "${manifest_digest}" "${manifest_size}" "${arch}" "${name}" "${name##*:}" >"${work}/oci/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${work}/oci" -cf "${out}.tmp" .
  mv "${out}.tmp" "${out}"
  printf 'sha256:%s\n' "${manifest_digest}" >"${out}.digest"
  rm -rf "${work}"
}

cl_kubectl() { "${CL_BIN}/kubectl" --kubeconfig "${CL_KUBECONFIG}" "$@"; }
cl_ctr() { ctr --address "${CL_CTR_SOCK}" --namespace k8s.io "$@"; }

# A process counts as gone once it is a zombie: whatever adopted it may reap it late.
cl_proc_running() { # PID
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "${state}" && "${state}" != Z ]]
}

cl_pid_alive() { # COMPONENT_NAME
  local pidfile="${CL_PIDS}/$1.pid"
  [[ -s "${pidfile}" ]] || return 1
  cl_proc_running "$(<"${pidfile}")"
}
