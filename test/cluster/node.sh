#!/usr/bin/env bash
# Faults of the single node, for the e2e fault tests (issue #8): a lost node is simulated as
#   node.sh stop-kubelet                    the kubelet dies (no status, no SIGTERM to any pod)
#   node.sh kill-pod <namespace> <pod>      every container of the pod SIGKILLed in containerd,
#                                           as if the machine had gone (nobody runs a preStop,
#                                           a sidecar or a trap)
#   (the test force-deletes the pod, as the node lifecycle controller would after the timeout)
#   node.sh start-kubelet                   the kubelet comes back (same flags as up.sh) and the
#                                           node is Ready again
#   node.sh kill-container <namespace> <pod> <container>
#                                           one container SIGKILLed (the kubelet stays up and
#                                           restarts it as its restartPolicy says)
set -Eeuo pipefail
# shellcheck source=up.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
CL_SCRIPT="cluster-node"

node_stop_kubelet() {
  cl_pid_alive kubelet || cl_die "the kubelet is not running"
  local pid
  pid="$(<"${CL_PIDS}/kubelet.pid")"
  kill -KILL "${pid}"
  local deadline=$((SECONDS + 20))
  while cl_proc_running "${pid}"; do
    ((SECONDS < deadline)) || cl_die "the kubelet (pid ${pid}) did not die"
    sleep 0.2
  done
  cl_log "kubelet stopped"
}

node_start_kubelet() {
  cl_pid_alive kubelet && cl_die "the kubelet is running already"
  up_kubelet
  up_wait "kubelet healthy" 60 kubelet curl -fsS http://127.0.0.1:10248/healthz
  up_wait "node ${CL_NODE_NAME} Ready" 120 kubelet up_node_ready
  cl_log "kubelet started"
}

# node_containers <namespace> <pod> [<container>]: containerd ids of the pod's containers.
node_containers() {
  local namespace="$1" pod="$2" container="${3:-}"
  local -a filters=("labels.\"io.kubernetes.pod.namespace\"==${namespace}" "labels.\"io.kubernetes.pod.name\"==${pod}")
  [[ -z "${container}" ]] || filters+=("labels.\"io.kubernetes.container.name\"==${container}")
  local joined
  joined="$(IFS=,; printf '%s' "${filters[*]}")"
  cl_ctr containers list --quiet "${joined}"
}

node_kill() {
  local ids id killed=0
  ids="$(node_containers "$@")"
  for id in ${ids}; do
    if cl_ctr tasks kill --signal SIGKILL "${id}" >/dev/null 2>&1; then killed=$((killed + 1)); fi
  done
  ((killed > 0)) || cl_die "no running container of $* found in containerd"
  cl_log "killed ${killed} container(s) of $*"
}

node_main() {
  [[ "$(id -u)" == 0 ]] || cl_die "must run as root"
  case "${1:-}" in
    stop-kubelet) node_stop_kubelet ;;
    start-kubelet) node_start_kubelet ;;
    kill-pod)
      (($# == 3)) || cl_die "usage: node.sh kill-pod <namespace> <pod>"
      node_kill "$2" "$3"
      ;;
    kill-container)
      (($# == 4)) || cl_die "usage: node.sh kill-container <namespace> <pod> <container>"
      node_kill "$2" "$3" "$4"
      ;;
    *) cl_die "usage: node.sh stop-kubelet | start-kubelet | kill-pod <ns> <pod> | kill-container <ns> <pod> <container>" ;;
  esac
}

node_main "$@"
