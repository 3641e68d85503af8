#!/usr/bin/env bash
# Tears down the cluster that up.sh started, so that up.sh can start a fresh one:
#   - stops kube-proxy, kube-scheduler, kube-controller-manager, kubelet,
#   - kills and removes every pod container in the cluster's own containerd (namespace k8s.io),
#     then stops that containerd and its shims (Docker's containerd is never touched),
#   - stops kube-apiserver and etcd (its tmpfs data is dropped: the next cluster starts empty),
#   - unmounts everything under /run/azp-cluster and removes it (netns, volumes, state),
#   - removes the KUBE-* chains (kube-proxy --cleanup, kubelet's canaries), the AZP-CLUSTER-*
#     chains, the CNI rules tagged with our network name, the azp0 bridge and the kubepods cgroups.
# Kept for the next run (and for post-mortems): binaries, certificates, containerd's image store
# under .cache/cluster/containerd, logs under .cache/cluster/logs.
# Idempotent: safe to run when nothing (or only part of the cluster) is running.
# Usage: test/cluster/down.sh
set -Eeuo pipefail
CL_SCRIPT="cluster-down"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

down_stop() { # TIMEOUT_SECONDS NAME...: TERM to all, then KILL what still runs after the timeout
  local timeout="$1" name pid i started pids=() names=()
  shift
  started="$(cl_now)"
  for name in "$@"; do
    [[ -s "${CL_PIDS}/${name}.pid" ]] || continue
    pid="$(<"${CL_PIDS}/${name}.pid")"
    if cl_proc_running "${pid}"; then
      kill -TERM "${pid}" 2>/dev/null || true
      pids+=("${pid}")
      names+=("${name}")
    fi
    rm -f "${CL_PIDS}/${name}.pid"
  done
  ((${#pids[@]} > 0)) || return 0
  for ((i = 0; i < timeout * 20; i++)); do
    for pid in "${pids[@]}"; do
      cl_proc_running "${pid}" && break
      pid=""
    done
    [[ -z "${pid}" ]] && break
    sleep 0.05
  done
  for i in "${!pids[@]}"; do
    if cl_proc_running "${pids[i]}"; then
      cl_log "${names[i]} (pid ${pids[i]}) did not stop on TERM in ${timeout}s; killing"
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
  done
  cl_log "stopped ${names[*]} ($(cl_elapsed "${started}")s)"
}

# Removes every container (pod sandboxes included) from the cluster's containerd while it runs,
# so that the next containerd starts with no pods to restore. Images stay.
down_containers() {
  [[ -S "${CL_CTR_SOCK}" ]] && cl_pid_alive containerd || return 0
  local ids id
  ids="$(cl_ctr tasks ls -q 2>/dev/null || true)"
  for id in ${ids}; do
    cl_ctr tasks kill --all --signal SIGKILL "${id}" >/dev/null 2>&1 || true
  done
  for id in ${ids}; do
    cl_ctr tasks delete --force "${id}" >/dev/null 2>&1 || true
  done
  ids="$(cl_ctr containers ls -q 2>/dev/null || true)"
  for id in ${ids}; do
    cl_ctr containers delete "${id}" >/dev/null 2>&1 || true
    # libcni's cached results of the sandboxes that never saw a CNI DEL.
    rm -f "/var/lib/cni/results/cni-loopback-${id}-lo" "/var/lib/cni/results/${CL_CNI_NET}-${id}-"*
  done
}

# Shims of our containerd outlive it by design; they are found by our socket path in their
# command line and ended one by one by pid.
down_shims() {
  local pid
  for pid in $(pgrep -f -- "-address ${CL_CTR_SOCK}" || true); do
    kill -KILL "${pid}" 2>/dev/null || true
  done
}

down_unmount() {
  [[ -d "${CL_RUN}" ]] || return 0
  local mnt
  # Deepest first; lazily if something still holds a mount busy.
  while read -r mnt; do
    umount "${mnt}" 2>/dev/null || umount -l "${mnt}" 2>/dev/null || true
  done < <(awk -v root="${CL_RUN}" '$5 == root || index($5, root "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  rm -rf "${CL_RUN}"
}

# Deletes the chains named by PATTERN (and every rule that jumps to them) from one table.
down_iptables_chains() { # IPTABLES TABLE CHAIN_REGEX
  local ipt="$1" table="$2" pattern="$3" rule chain
  command -v "${ipt}" >/dev/null || return 0
  "${ipt}-save" -t "${table}" >/dev/null 2>&1 || return 0
  while read -r rule; do
    eval "${ipt} -w -t ${table} -D ${rule#-A }" 2>/dev/null || true
  done < <("${ipt}-save" -t "${table}" | grep -E "^-A [A-Z]+ .*-j (${pattern})( |\$)" | grep -vE "^-A (${pattern}) " || true)
  for chain in $("${ipt}-save" -t "${table}" | sed -nE "s/^:((${pattern})) .*/\1/p"); do
    "${ipt}" -w -t "${table}" -F "${chain}" 2>/dev/null || true
  done
  for chain in $("${ipt}-save" -t "${table}" | sed -nE "s/^:((${pattern})) .*/\1/p"); do
    "${ipt}" -w -t "${table}" -X "${chain}" 2>/dev/null || true
  done
}

# CNI plugins tag their rules with the network name; remove those and the chains they use.
down_cni_rules() {
  local table rule target chains=()
  for table in nat filter; do
    while read -r rule; do
      target="$(sed -nE 's/.* -j (CNI-[A-Za-z0-9-]+).*/\1/p' <<<"${rule}")"
      [[ -n "${target}" ]] && chains+=("${table}:${target}")
      eval "iptables -w -t ${table} -D ${rule#-A }" 2>/dev/null || true
    done < <(iptables-save -t "${table}" | grep -F "name: \\\"${CL_CNI_NET}\\\"" | grep '^-A ' || true)
  done
  for target in "${chains[@]}"; do
    iptables -w -t "${target%%:*}" -F "${target#*:}" 2>/dev/null || true
    iptables -w -t "${target%%:*}" -X "${target#*:}" 2>/dev/null || true
  done
}

down_network() {
  if [[ -x "${CL_BIN}/kube-proxy" ]] && iptables-save 2>/dev/null | grep -q '^:KUBE-'; then
    "${CL_BIN}/kube-proxy" --cleanup >"${CL_LOGS}/kube-proxy-cleanup.log" 2>&1 || true
  fi
  local ipt table
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      down_iptables_chains "${ipt}" "${table}" 'KUBE-[A-Z0-9-]+'
    done
  done
  down_cni_rules
  down_iptables_chains iptables filter "${CL_CHAIN_FWD}"
  down_iptables_chains iptables nat "${CL_CHAIN_NAT}"
  if ip link show "${CL_BRIDGE}" >/dev/null 2>&1; then
    ip link delete "${CL_BRIDGE}" type bridge
  fi
}

down_cgroups() {
  local dir pid
  # Pod processes left behind (e.g. after containerd crashed) live in the kubelet's
  # /kubepods cgroups, which only this cluster creates on this host.
  if [[ -d /sys/fs/cgroup/pids/kubepods ]]; then
    while read -r pid; do
      kill -KILL "${pid}" 2>/dev/null || true
    done < <(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null)
  fi
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d "${dir}" ]] || continue
    find "${dir}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# The few fixed host paths that the kubelet and libcni use whatever their configuration says.
down_host_files() {
  rm -f "/var/lib/cni/results/${CL_CNI_NET}-"*
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
  find /var/log/containers -maxdepth 1 -lname "${CL_LOGS}/pods/*" -delete 2>/dev/null || true
}

down_main() {
  local started
  started="$(cl_now)"
  down_stop 10 kube-router kube-proxy kube-scheduler kube-controller-manager kubelet
  down_containers
  down_stop 10 containerd
  down_shims
  down_stop 20 kube-apiserver
  down_stop 10 etcd
  down_unmount
  down_network
  bash "${CL_SRC}/netpol.sh" cleanup
  down_cgroups
  down_host_files
  rm -f "${CL_ENV_FILE}"
  cl_log "cluster down in $(cl_elapsed "${started}")s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  down_main "$@"
fi
