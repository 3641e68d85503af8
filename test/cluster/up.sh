#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine (root, no systemd needed):
# etcd, containerd (own socket and state), kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy (iptables mode), each in the background under setsid,
# logs in .cache/cluster/logs/, pids in /run/azp-cluster/pids/.
# Returns when the node is Ready, the default ServiceAccount exists, kube-proxy has
# programmed the `kubernetes` Service and KEDA's operator is available (keda.sh up, also when
# the cluster was already running); writes .cache/cluster/env:
#   KUBECONFIG=...  HOST_IP_FOR_PODS=...  REGISTRY=127.0.0.1:5000  (plus KUBECTL, CLUSTER_NODE)
# A cluster left from an earlier run is torn down first (down.sh), so up.sh can be re-run.
# Usage: test/cluster/up.sh        (tear down: test/cluster/down.sh)
set -Eeuo pipefail
CL_SCRIPT="cluster-up"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- certificates (openssl, ECDSA P-256: generated in milliseconds, kept in .cache) -----------

up_pki_cert() { # NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
  local name="$1" subject="$2" eku="$3" sans="${4:-}"
  local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=${eku}
authorityKeyIdentifier=keyid"
  [[ -n "${sans}" ]] && ext+=$'\n'"subjectAltName=${sans}"
  openssl ecparam -name prime256v1 -genkey -noout -out "${CL_PKI}/${name}.key"
  openssl req -new -key "${CL_PKI}/${name}.key" -subj "${subject}" -out "${CL_PKI}/${name}.csr"
  local ca="${UP_PKI_CA:-ca}"
  openssl x509 -req -in "${CL_PKI}/${name}.csr" -CA "${CL_PKI}/${ca}.crt" -CAkey "${CL_PKI}/${ca}.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile <(printf '%s\n' "${ext}") \
    -out "${CL_PKI}/${name}.crt" 2>/dev/null
  rm -f "${CL_PKI}/${name}.csr"
}

up_pki() {
  # Bump the layout number whenever a certificate's names or usages change here.
  local layout="3 ${CL_NODE_NAME} ${CL_NODE_IP} ${CL_KUBERNETES_SVC_IP}"
  if [[ "$(cat "${CL_PKI}/.layout" 2>/dev/null)" == "${layout}" ]] \
    && openssl x509 -checkend 86400 -noout -in "${CL_PKI}/apiserver.crt" >/dev/null 2>&1; then
    return 0
  fi
  cl_log "generating certificates in ${CL_PKI}"
  rm -rf "${CL_PKI}" && mkdir -p "${CL_PKI}" && chmod 700 "${CL_PKI}"
  openssl ecparam -name prime256v1 -genkey -noout -out "${CL_PKI}/ca.key"
  openssl req -x509 -new -key "${CL_PKI}/ca.key" -subj "/CN=azp-cluster-ca" -days 3650 -sha256 \
    -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n') \
    -extensions ca -out "${CL_PKI}/ca.crt"
  up_pki_cert apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:${CL_NODE_NAME},IP:127.0.0.1,IP:${CL_NODE_IP},IP:${CL_KUBERNETES_SVC_IP}"
  up_pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  up_pki_cert admin "/O=system:masters/CN=azp-admin" clientAuth
  up_pki_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  up_pki_cert scheduler "/CN=system:kube-scheduler" clientAuth
  up_pki_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  up_pki_cert kubelet "/O=system:nodes/CN=system:node:${CL_NODE_NAME}" clientAuth
  up_pki_cert kubelet-serving "/CN=${CL_NODE_NAME}" serverAuth \
    "DNS:${CL_NODE_NAME},DNS:localhost,IP:${CL_NODE_IP},IP:127.0.0.1"
  # The aggregation layer's client (requestheader authentication): its own CA, as kubeadm does.
  openssl ecparam -name prime256v1 -genkey -noout -out "${CL_PKI}/front-proxy-ca.key"
  openssl req -x509 -new -key "${CL_PKI}/front-proxy-ca.key" -subj "/CN=azp-front-proxy-ca" -days 3650 -sha256 \
    -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n') \
    -extensions ca -out "${CL_PKI}/front-proxy-ca.crt"
  UP_PKI_CA=front-proxy-ca up_pki_cert front-proxy-client "/CN=front-proxy-client" clientAuth
  # ServiceAccount token signing key pair: RSA (RS256), as managed clusters use, because
  # Microsoft Entra accepts federated tokens signed with RS256 only (workload identity e2e).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${CL_PKI}/sa.key" 2>/dev/null
  openssl rsa -in "${CL_PKI}/sa.key" -pubout -out "${CL_PKI}/sa.pub" 2>/dev/null
  printf '%s\n' "${layout}" >"${CL_PKI}/.layout"
}

up_kubeconfig() { # FILE CERT_NAME SERVER
  local file="$1" name="$2" server="$3"
  cat >"${file}.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: azp-e2e
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 <"${CL_PKI}/ca.crt")
users:
- name: ${name}
  user:
    client-certificate-data: $(base64 -w0 <"${CL_PKI}/${name}.crt")
    client-key-data: $(base64 -w0 <"${CL_PKI}/${name}.key")
contexts:
- name: azp-e2e
  context:
    cluster: azp-e2e
    user: ${name}
    namespace: default
current-context: azp-e2e
EOF
  chmod 600 "${file}.tmp"
  mv "${file}.tmp" "${file}"
}

# --- configuration files ---------------------------------------------------------------------

up_configs() {
  mkdir -p "${CL_ETC}/cni/net.d" "${CL_ETC}/containerd/certs.d/${CL_REGISTRY}"
  local server="https://127.0.0.1:${CL_API_PORT}" c
  up_kubeconfig "${CL_KUBECONFIG}" admin "${server}"
  for c in controller-manager scheduler kube-proxy kubelet; do
    up_kubeconfig "${CL_ETC}/${c}.kubeconfig" "${c}" "${server}"
  done

  cat >"${CL_ETC}/containerd/config.toml" <<EOF
version = 2
root = "${CL_CACHE}/containerd"
state = "${CL_RUN}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "${CL_CTR_SOCK}"
[ttrpc]
  address = "${CL_CTR_SOCK}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${CL_RUN}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${CL_PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE (as on these VMs) runc cannot lower oom_score_adj: the kubelet asks
  # -998 for every sandbox. Clamp requests to containerd's own score instead of failing.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${CL_RUN}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${CL_ETC}/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${CL_ETC}/containerd/certs.d"
EOF

  # The local registry speaks plain http.
  cat >"${CL_ETC}/containerd/certs.d/${CL_REGISTRY}/hosts.toml" <<EOF
server = "http://${CL_REGISTRY}"

[host."http://${CL_REGISTRY}"]
  capabilities = ["pull", "resolve", "push"]
EOF

  cat >"${CL_ETC}/cni/net.d/10-azp.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "${CL_CNI_NET}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${CL_BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${CL_RUN}/cni-ipam",
        "ranges": [[{ "subnet": "${CL_POD_CIDR}", "gateway": "${CL_NODE_IP}" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

  cat >"${CL_ETC}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${CL_NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${CL_PKI}/ca.crt}
authorization:
  mode: Webhook
tlsCertFile: ${CL_PKI}/kubelet-serving.crt
tlsPrivateKeyFile: ${CL_PKI}/kubelet-serving.key
containerRuntimeEndpoint: unix://${CL_CTR_SOCK}
cgroupDriver: cgroupfs
# These VMs lack CAP_SYS_RESOURCE: the kubelet cannot lower its own oom_score_adj to -999.
oomScoreAdj: 0
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: true
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: ${CL_LOGS}/pods
serializeImagePulls: false
# A test machine's disk may be fuller than a production node's: never evict, never GC images
# (the locally built pause image cannot be pulled again if it were collected).
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 4s
EOF

  cat >"${CL_ETC}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: ${CL_NODE_NAME}
clusterCIDR: ${CL_CLUSTER_CIDR}
clientConnection: {kubeconfig: ${CL_ETC}/kube-proxy.kubeconfig}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
# Leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF

  cat >"${CL_ETC}/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: ${CL_ETC}/scheduler.kubeconfig}
leaderElection: {leaderElect: false}
EOF
}

# --- host networking ---------------------------------------------------------------------------

up_host_network() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 || cl_die "br_netfilter is not available"
  sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 || true
  # The bridge exists before any pod, so the node IP (its gateway address) is stable and the
  # apiserver can advertise it; the CNI bridge plugin adopts it.
  if ! ip link show "${CL_BRIDGE}" >/dev/null 2>&1; then
    ip link add "${CL_BRIDGE}" type bridge
  fi
  # A fixed MAC: a bridge without one takes the lowest MAC of its ports and changes it whenever
  # a pod's veth comes or goes; pods that cached the gateway's old MAC then lose the node (and
  # everything behind it) for up to a minute or two, until their ARP entry expires. Seen under
  # churn: a sidecar's and an agent's calls timed out for ~90 s while newer pods were fine.
  ip link set "${CL_BRIDGE}" address "${CL_BRIDGE_MAC}"
  ip addr replace "${CL_NODE_IP}/${CL_POD_CIDR#*/}" dev "${CL_BRIDGE}"
  ip link set "${CL_BRIDGE}" up
  # Docker sets the FORWARD policy to DROP: accept what enters or leaves the pods' bridge.
  iptables -w -N "${CL_CHAIN_FWD}" 2>/dev/null || iptables -w -F "${CL_CHAIN_FWD}"
  iptables -w -A "${CL_CHAIN_FWD}" -i "${CL_BRIDGE}" -j ACCEPT
  iptables -w -A "${CL_CHAIN_FWD}" -o "${CL_BRIDGE}" -j ACCEPT
  iptables -w -C FORWARD -j "${CL_CHAIN_FWD}" 2>/dev/null || iptables -w -I FORWARD 1 -j "${CL_CHAIN_FWD}"
  iptables -w -t nat -N "${CL_CHAIN_NAT}" 2>/dev/null || iptables -w -t nat -F "${CL_CHAIN_NAT}"
  iptables -w -t nat -A "${CL_CHAIN_NAT}" -s "${CL_POD_CIDR}" ! -o "${CL_BRIDGE}" -j MASQUERADE
  iptables -w -t nat -C POSTROUTING -j "${CL_CHAIN_NAT}" 2>/dev/null || iptables -w -t nat -A POSTROUTING -j "${CL_CHAIN_NAT}"
}

# --- processes ---------------------------------------------------------------------------------

up_start() { # NAME BINARY ARGS...
  local name="$1"
  shift
  if cl_pid_alive "${name}"; then
    cl_log "${name} already running (pid $(<"${CL_PIDS}/${name}.pid"))"
    return 0
  fi
  setsid "$@" >"${CL_LOGS}/${name}.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"${CL_PIDS}/${name}.pid"
}

up_check_alive() { # fail fast (with the log) when a component died while we wait
  local name
  for name in "$@"; do
    if ! cl_pid_alive "${name}"; then
      tail -n 40 "${CL_LOGS}/${name}.log" >&2
      cl_die "${name} exited (log: ${CL_LOGS}/${name}.log)"
    fi
  done
}

up_wait() { # DESCRIPTION TIMEOUT COMPONENTS_TO_WATCH CHECK...
  local what="$1" timeout="$2" watch="$3"
  shift 3
  local deadline=$((SECONDS + timeout)) name
  until "$@" >/dev/null 2>&1; do
    # shellcheck disable=SC2086  # ${watch} is a space-separated list of names
    up_check_alive ${watch}
    if ((SECONDS >= deadline)); then
      for name in ${watch}; do
        cl_log "--- last lines of ${name}.log"
        tail -n 20 "${CL_LOGS}/${name}.log" >&2
      done
      cl_die "timed out after ${timeout}s waiting for ${what}"
    fi
    sleep 0.2
  done
  cl_log "${what} ($(cl_elapsed "${UP_STARTED}")s)"
}

up_etcd() {
  mkdir -p "${CL_RUN}/etcd"
  # etcd's data lives on a tmpfs: fast fsync, and it is thrown away with the cluster.
  mountpoint -q "${CL_RUN}/etcd" || mount -t tmpfs -o size=1g,mode=700 azp-cluster-etcd "${CL_RUN}/etcd"
  up_start etcd "${CL_BIN}/etcd" --name azp --data-dir "${CL_RUN}/etcd/data" \
    --listen-client-urls "http://127.0.0.1:${CL_ETCD_PORT}" \
    --advertise-client-urls "http://127.0.0.1:${CL_ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${CL_ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${CL_ETCD_PEER_PORT}" \
    --initial-cluster "azp=http://127.0.0.1:${CL_ETCD_PEER_PORT}" \
    --log-level warn
}

up_containerd() {
  mkdir -p "${CL_CACHE}/containerd" "${CL_RUN}/containerd"
  up_start containerd containerd --config "${CL_ETC}/containerd/config.toml"
}

up_pause_image() {
  cl_ctr images check "name==${CL_PAUSE_IMAGE}" 2>/dev/null | grep -q complete && return 0
  cl_log "importing ${CL_PAUSE_IMAGE} into containerd"
  cl_ctr images import "${CL_CACHE}/images/pause.oci.tar" >/dev/null
}

up_apiserver() {
  up_start kube-apiserver "${CL_BIN}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${CL_ETCD_PORT}" \
    --bind-address 0.0.0.0 --secure-port "${CL_API_PORT}" --advertise-address "${CL_NODE_IP}" \
    --service-cluster-ip-range "${CL_SERVICE_CIDR}" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --client-ca-file "${CL_PKI}/ca.crt" \
    --tls-cert-file "${CL_PKI}/apiserver.crt" --tls-private-key-file "${CL_PKI}/apiserver.key" \
    --kubelet-client-certificate "${CL_PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${CL_PKI}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${CL_PKI}/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "${CL_PKI}/sa.pub" \
    --service-account-signing-key-file "${CL_PKI}/sa.key" \
    --requestheader-client-ca-file "${CL_PKI}/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "${CL_PKI}/front-proxy-client.crt" \
    --proxy-client-key-file "${CL_PKI}/front-proxy-client.key" \
    --profiling=false
}

up_controller_manager() {
  up_start kube-controller-manager "${CL_BIN}/kube-controller-manager" \
    --kubeconfig "${CL_ETC}/controller-manager.kubeconfig" \
    --authentication-kubeconfig "${CL_ETC}/controller-manager.kubeconfig" \
    --authorization-kubeconfig "${CL_ETC}/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --controllers '*' \
    --use-service-account-credentials=true \
    --service-account-private-key-file "${CL_PKI}/sa.key" --root-ca-file "${CL_PKI}/ca.crt" \
    --cluster-signing-cert-file "${CL_PKI}/ca.crt" --cluster-signing-key-file "${CL_PKI}/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr "${CL_CLUSTER_CIDR}" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "${CL_SERVICE_CIDR}" \
    --profiling=false
}

up_scheduler() {
  up_start kube-scheduler "${CL_BIN}/kube-scheduler" --config "${CL_ETC}/scheduler.yaml" \
    --authentication-kubeconfig "${CL_ETC}/scheduler.kubeconfig" \
    --authorization-kubeconfig "${CL_ETC}/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --profiling=false
}

up_kubelet() {
  mkdir -p "${CL_RUN}/kubelet" "${CL_LOGS}/pods"
  up_start kubelet "${CL_BIN}/kubelet" --config "${CL_ETC}/kubelet.yaml" \
    --kubeconfig "${CL_ETC}/kubelet.kubeconfig" --root-dir "${CL_RUN}/kubelet" \
    --hostname-override "${CL_NODE_NAME}" --node-ip "${CL_NODE_IP}"
}

up_kube_proxy() {
  up_start kube-proxy "${CL_BIN}/kube-proxy" --config "${CL_ETC}/kube-proxy.yaml"
}

# --- readiness checks --------------------------------------------------------------------------

up_etcd_healthy() { curl -fsS "http://127.0.0.1:${CL_ETCD_PORT}/health" | grep -q '"health":"true"'; }
up_containerd_ready() { cl_ctr version; }
up_api_ready() { cl_kubectl get --raw /readyz; }
up_node_ready() {
  [[ "$(cl_kubectl get node "${CL_NODE_NAME}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
up_default_sa() { cl_kubectl -n default get serviceaccount default; }
up_root_ca_published() { cl_kubectl -n default get configmap kube-root-ca.crt; }
up_service_programmed() { iptables -w -t nat -S KUBE-SERVICES | grep -q -- "-d ${CL_KUBERNETES_SVC_IP}/32"; }

up_write_env() {
  cat >"${CL_ENV_FILE}.tmp" <<EOF
KUBECONFIG=${CL_KUBECONFIG}
HOST_IP_FOR_PODS=${CL_NODE_IP}
REGISTRY=${CL_REGISTRY}
KUBECTL=${CL_BIN}/kubectl
CLUSTER_NODE=${CL_NODE_NAME}
EOF
  mv "${CL_ENV_FILE}.tmp" "${CL_ENV_FILE}"
}

up_registry() {
  curl -fsS "http://${CL_REGISTRY}/v2/" >/dev/null 2>&1 && return 0
  [[ -f "${CL_REPO}/tools/docker-up.sh" ]] || { cl_log "warning: no registry on ${CL_REGISTRY}"; return 0; }
  bash "${CL_REPO}/tools/docker-up.sh" registry
}

UP_COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# Started once the node is up (netpol.sh), so not among the components the waits above watch.
UP_LATE_COMPONENTS=(kube-router)

# A healthy cluster from an earlier up.sh (same config) is kept as it is.
up_already_running() {
  local name
  for name in "${UP_COMPONENTS[@]}" "${UP_LATE_COMPONENTS[@]}"; do
    cl_pid_alive "${name}" || return 1
  done
  [[ -s "${CL_ENV_FILE}" ]] && curl -fsS http://127.0.0.1:10248/healthz >/dev/null 2>&1 \
    && up_api_ready >/dev/null 2>&1 && up_node_ready >/dev/null 2>&1
}

up_main() {
  UP_STARTED="$(cl_now)"
  [[ "$(id -u)" == 0 ]] || cl_die "must run as root"
  bash "${CL_SRC}/build.sh"
  if up_already_running; then
    bash "${CL_SRC}/keda.sh" up
    cl_log "cluster already running (down.sh stops it); env: ${CL_ENV_FILE}"
    cat "${CL_ENV_FILE}"
    return 0
  fi
  if [[ -d "${CL_RUN}" ]] || ip link show "${CL_BRIDGE}" >/dev/null 2>&1; then
    cl_log "cleaning up an earlier cluster first"
    bash "${CL_SRC}/down.sh"
  fi
  mkdir -p "${CL_RUN}" "${CL_PIDS}" "${CL_LOGS}" "${CL_ETC}"
  rm -rf "${CL_LOGS:?}/"*
  mkdir -p "${CL_LOGS}/pods"
  up_pki
  up_configs
  up_host_network
  up_registry

  up_etcd
  up_containerd
  up_wait "etcd healthy" 30 etcd up_etcd_healthy
  up_apiserver
  up_wait "containerd ready" 30 containerd up_containerd_ready
  up_pause_image
  up_wait "apiserver ready" 90 "etcd kube-apiserver" up_api_ready
  up_controller_manager
  up_scheduler
  up_kubelet
  up_kube_proxy
  local all="${UP_COMPONENTS[*]}"
  up_wait "node ${CL_NODE_NAME} Ready" 120 "${all}" up_node_ready
  up_wait "kube-proxy programmed the kubernetes Service" 60 "${all}" up_service_programmed
  # NetworkPolicy enforcement (netpol.sh): after kube-proxy, whose chains it must not race.
  bash "${CL_SRC}/netpol.sh" start
  up_wait "ServiceAccount default/default exists" 60 "${all}" up_default_sa
  up_wait "ConfigMap default/kube-root-ca.crt published" 60 "${all}" up_root_ca_published
  up_write_env
  bash "${CL_SRC}/keda.sh" up
  cl_log "cluster up in $(cl_elapsed "${UP_STARTED}")s; env: ${CL_ENV_FILE}"
  cat "${CL_ENV_FILE}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  up_main "$@"
fi
