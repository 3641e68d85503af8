#!/usr/bin/env bash
# NetworkPolicy enforcement for the local test cluster: kube-router's network policy controller
# ONLY (--run-firewall=true --run-router=false --run-service-proxy=false), as a root host process
# like the other components. The CNI bridge plugin (up.sh's azp-pods network) enforces nothing;
# kube-router's controller filters the pods' traffic with iptables (filter table: chains
# KUBE-ROUTER-{INPUT,FORWARD,OUTPUT}, KUBE-POD-FW-*, KUBE-NWPLCY-*) and ipsets (KUBE-SRC-*,
# KUBE-DST-*). Routing stays with the bridge, Services with kube-proxy.
#   build  compiles kube-router ${CL_KUBE_ROUTER_VERSION} (github.com/cloudnativelabs/kube-router/v2;
#          its go.mod has no replace/exclude directives, so `go install MODULE/cmd/kube-router@VERSION`
#          builds it from the module's own go.mod + go.sum) into .cache/cluster/bin/kube-router.
#          Skipped when its stamp matches. Log: .cache/cluster/build-kube-router.log.
#   start  starts it (netpol_start below); up.sh runs it after kube-proxy.
#   cleanup destroys its ipsets (down.sh, after the chains are gone).
# Host prerequisites (checked by netpol_check_host): root; iptables, iptables-save/-restore and
# ipset on PATH (Debian: iptables, ipset; in CL_APT_PACKAGES); kernel ip_set + xt_set + xt_physdev
# + br_netfilter with net.bridge.bridge-nf-call-iptables=1 (up.sh sets it): pod-to-pod traffic on
# azp0 is bridged, not routed, and only reaches iptables' FORWARD chain through br_netfilter.
# kube-router runs whatever `iptables` is on PATH, the same binary kube-proxy and up.sh use (on
# Debian bookworm iptables-nft), so all rules live in one backend.
# Usage: test/cluster/netpol.sh build | start | cleanup
set -Eeuo pipefail
CL_SCRIPT="netpol"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KR_MODULE="github.com/cloudnativelabs/kube-router/v2"
KR_BIN="${CL_BIN}/kube-router"
KR_LOG_NAME="kube-router"                       # up_start writes ${CL_LOGS}/kube-router.log
KR_KUBECONFIG="${CL_ETC}/kube-router.kubeconfig"
KR_USER="azp-kube-router"                      # CN of its client certificate (see netpol_rbac)

# --- build -------------------------------------------------------------------------------------

# BuildDate = the module's commit time from the proxy's .info (not the clock): same input, same
# binary. `kube-router --version` prints both.
kr_build_date() {
  local json info
  json="$(cd / && GOFLAGS='' GOTOOLCHAIN=local go mod download -json "${KR_MODULE}@${CL_KUBE_ROUTER_VERSION}")" || return 1
  info="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' <<<"${json}")"
  [[ -s "${info}" ]] || { printf '%s\n' "${json}"; return 1; }
  sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${info}"
}

kr_ldflags() { # BUILD_DATE
  printf '%s' "-s -w -X ${KR_MODULE}/pkg/version.Version=${CL_KUBE_ROUTER_VERSION} -X ${KR_MODULE}/pkg/version.BuildDate=$1"
}

# The stamp names the version, Go and the flags: a change to any rebuilds.
kr_stamp() {
  printf '%s\n' "${CL_KUBE_ROUTER_VERSION}" "$(go env GOVERSION)" "$(kr_ldflags "<module time>")" \
    "CGO_ENABLED=0 -trimpath go install ${KR_MODULE}/cmd/kube-router" | sha256sum | cut -d' ' -f1
}

netpol_build() {
  command -v go >/dev/null || cl_die "go is not on PATH (kube-router ${CL_KUBE_ROUTER_VERSION} needs Go >= 1.21)"
  local stamp
  stamp="$(kr_stamp)"
  if [[ -x "${KR_BIN}" && "$(cat "${CL_BIN}/.kube-router-stamp" 2>/dev/null)" == "${stamp}" ]]; then
    cl_log "kube-router ${CL_KUBE_ROUTER_VERSION} cached in ${CL_BIN}"
    return 0
  fi
  local started log="${CL_CACHE}/build-kube-router.log" date gobin
  started="$(cl_now)"
  mkdir -p "${CL_BIN}"
  rm -f "${CL_BIN}/.kube-router-stamp"
  cl_log "compiling kube-router ${CL_KUBE_ROUTER_VERSION}; log: ${log}"
  if ! date="$(kr_build_date 2>"${log}")" || [[ -z "${date}" ]]; then
    tail -n 40 "${log}" >&2
    cl_die "go mod download ${KR_MODULE}@${CL_KUBE_ROUTER_VERSION} failed (log: ${log})"
  fi
  gobin="$(mktemp -d)"
  # Outside any module (cd /): `go install pkg@version` resolves only the module's go.mod/go.sum
  # (verified against GOSUMDB like any download), never this repository's. GOFLAGS='' (a -mod
  # flag there would be refused with pkg@version).
  if ! (cd / && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS='' GOBIN="${gobin}" \
    go install -trimpath -ldflags "$(kr_ldflags "${date}")" "${KR_MODULE}/cmd/kube-router@${CL_KUBE_ROUTER_VERSION}") >>"${log}" 2>&1; then
    rm -rf "${gobin}"
    tail -n 40 "${log}" >&2
    cl_die "go install of kube-router failed (log: ${log})"
  fi
  mv -f "${gobin}/kube-router" "${KR_BIN}"
  rm -rf "${gobin}"
  printf '%s\n' "${stamp}" >"${CL_BIN}/.kube-router-stamp"
  cl_log "compiled kube-router in $(cl_elapsed "${started}")s ($(du -h "${KR_BIN}" | cut -f1)); log: ${log}"
}

# --- start -------------------------------------------------------------------------------------
# Credentials: a client certificate of its own (CN=azp-kube-router, signed by the cluster CA like
# the other components' in up_pki; kubeconfig ${CL_ETC}/kube-router.kubeconfig), bound to a
# read-only ClusterRole. Not the admin kubeconfig (system:masters): every other component has its
# own identity, and RBAC then also checks that the list below is all that it needs.
# kube-router v2.1.0 (pkg/cmd/kube-router.go Run) starts informers for pods, namespaces, nodes,
# services, endpoints, endpointslices and networkpolicies whatever controllers run, and waits for
# all of them to sync (--cache-sync-timeout, 1m), so all seven need list+watch; the network policy
# controller also GETs its Node (InternalIP: which pods are local, status.hostIP == it). It writes
# nothing to the API (no events, no status, no leases with these flags).
netpol_rbac() {
  cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: azp-kube-router
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes, services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: azp-kube-router
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: azp-kube-router}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: ${KR_USER}}
EOF
}

# The command line (without the pid/log handling of up_start). Everything else is kube-router's
# default: IPv4 only, --service-node-port-range 30000-32767 (the apiserver's default too),
# --iptables-sync-period 5m (it also syncs on every pod, namespace and policy event),
# --enable-pprof=false.
#   NODE_NAME + --hostname-override: the Node it reads (else it first GETs a Node named after
#     the machine's hostname, a 404); its InternalIP (${CL_NODE_IP}) picks the local pods.
#   --service-cluster-ip-range: KUBE-ROUTER-INPUT RETURNs traffic to it (default 10.96.0.0/12).
#   --health-port: /healthz (and, via http.DefaultServeMux, net/http/pprof) on ALL addresses,
#     port ${CL_KUBE_ROUTER_HEALTH_PORT} (kube-router's default; unused by the other components).
#   --metrics-port=0: no metrics listener.
# No --cluster-cidr / pod CIDR flag: the policy controller never reads node.spec.podCIDR or a
# cluster CIDR (only the routing controller, not run, does); it works per pod IP.
kr_args() {
  KR_ARGS=(env "NODE_NAME=${CL_NODE_NAME}" "${KR_BIN}"
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false
    --kubeconfig "${KR_KUBECONFIG}"
    --hostname-override "${CL_NODE_NAME}"
    --service-cluster-ip-range "${CL_SERVICE_CIDR}"
    --health-port "${CL_KUBE_ROUTER_HEALTH_PORT}"
    --metrics-port 0
    --enable-ipv4=true --enable-ipv6=false
    --v 0)
}

# What the policy controller needs from this host (fails with the reason).
netpol_check_host() {
  local cmd
  [[ "$(id -u)" == 0 ]] || cl_die "must run as root (kube-router refuses otherwise)"
  # Looked up on PATH by kube-router: iptables (go-iptables), iptables-save/-restore, ipset.
  for cmd in iptables iptables-save iptables-restore ipset; do
    command -v "${cmd}" >/dev/null || cl_die "${cmd} is not on PATH (Debian: iptables, ipset)"
  done
  # Pod-to-pod traffic on ${CL_BRIDGE} is bridged: it reaches iptables (the physdev rules in
  # KUBE-ROUTER-FORWARD) only through br_netfilter. up.sh's up_host_network sets this; kube-router
  # sets it only in its routing controller, which does not run.
  [[ "$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)" == 1 ]] \
    || cl_die "net.bridge.bridge-nf-call-iptables is not 1 (br_netfilter): bridged pod traffic would bypass the policies"
  ipset list -n >/dev/null || cl_die "ipset cannot talk to the kernel (ip_set)"
}

netpol_pki() {
  local crt="${CL_PKI}/kube-router.crt"
  if [[ -s "${crt}" && -s "${KR_KUBECONFIG}" ]] \
    && openssl verify -CAfile "${CL_PKI}/ca.crt" "${crt}" >/dev/null 2>&1 \
    && openssl x509 -checkend 86400 -noout -in "${crt}" >/dev/null 2>&1; then
    return 0
  fi
  cl_log "generating the kube-router client certificate and ${KR_KUBECONFIG}"
  up_pki_cert kube-router "/CN=${KR_USER}" clientAuth
  up_kubeconfig "${KR_KUBECONFIG}" kube-router "https://127.0.0.1:${CL_API_PORT}"
}

# Ready once the first full sync has run: its jump rule is first in FORWARD and the default
# policy chain exists.
netpol_ready() {
  curl -fsS "http://127.0.0.1:${CL_KUBE_ROUTER_HEALTH_PORT}/healthz" >/dev/null \
    && iptables -w -S FORWARD 1 | grep -q -- '-j KUBE-ROUTER-FORWARD' \
    && iptables -w -S KUBE-NWPLCY-DEFAULT >/dev/null 2>&1
}

# What up.sh would run, after kube-proxy and once the apiserver is ready (kube-router exits
# when its informers have not synced within 1m). Uses up.sh's own helpers (up_start: setsid,
# log ${CL_LOGS}/kube-router.log, pid ${CL_PIDS}/kube-router.pid; up_pki_cert; up_kubeconfig;
# up_wait). up.sh runs it (`netpol.sh start`).
netpol_start() {
  # shellcheck source=up.sh source-path=SCRIPTDIR
  source "${CL_SRC}/up.sh" # defines functions only (its main runs only when executed)
  CL_SCRIPT="netpol"
  UP_STARTED="${UP_STARTED:-$(cl_now)}"
  [[ -x "${KR_BIN}" ]] || cl_die "${KR_BIN} missing: run $0 build"
  netpol_check_host
  netpol_pki
  netpol_rbac | cl_kubectl apply -f - >/dev/null
  kr_args
  up_start "${KR_LOG_NAME}" "${KR_ARGS[@]}"
  up_wait "kube-router enforces NetworkPolicy" 90 "${KR_LOG_NAME}" netpol_ready
}

# After kube-router has stopped and its chains are gone (down.sh's down_iptables_chains with
# 'KUBE-[A-Z0-9-]+' already removes KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*), its ipsets
# remain: destroy them by name. (Not `kube-router --cleanup-config`: that also runs the service
# proxy's and the routing controller's cleanups.) down.sh runs it (`netpol.sh cleanup`).
netpol_cleanup_ipsets() {
  local set
  command -v ipset >/dev/null || return 0
  for set in $(ipset list -n 2>/dev/null | grep -E '^KUBE-(SRC|DST)-' || true); do
    ipset destroy "${set}" 2>/dev/null || true
  done
}

netpol_main() {
  case "${1:-}" in
    build) netpol_build ;;
    start) netpol_start ;;
    cleanup) netpol_cleanup_ipsets ;;
    *) cl_die "usage: $0 build | start | cleanup" ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  netpol_main "$@"
fi
