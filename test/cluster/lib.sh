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
CL_APT_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack
  iproute2 procps openssl gcc libc6-dev curl ca-certificates util-linux)
CL_PAUSE_IMAGE="127.0.0.1:5000/azp/pause:3.10-azp1"   # built from pause/pause.c (build.sh)

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
