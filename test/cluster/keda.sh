#!/usr/bin/env bash
# Real KEDA in the local test cluster: the operator only, compiled from the Go module proxy like
# the rest of the cluster (no image pulls from the internet). The chart's ScaledJob is what scales
# the agents, so the e2e suite runs it against the real operator and its azure-pipelines scaler.
#   build  compiles keda-operator ${CL_KEDA_VERSION} (github.com/kedacore/keda/v2; its go.mod has
#          replace/exclude directives, so it cannot be `go install`ed: the module is copied to
#          .cache/cluster/keda/src and built there) into .cache/cluster/bin, packs it as an OCI
#          archive (.cache/cluster/images/keda-operator.oci.tar: /keda + CA bundle, user 65532),
#          copies KEDA's CRDs to .cache/cluster/keda/crds. Skipped when its stamps match (~0.03 s).
#   up     (cluster running) imports the image into the cluster's containerd and applies the CRDs
#          (labelled app.kubernetes.io/version=<version>: the chart reads it to check KEDA's
#          version), namespace keda, ServiceAccount and RBAC (KEDA's own rules, trimmed: see
#          keda_rbac), the TLS secret kedaorg-certs and Deployment keda-operator; waits until it
#          is available. Idempotent: everything is `kubectl apply`d; a second `up` takes ~1 s.
#   down   deletes KEDA's CRDs (and with them every ScaledJob, ScaledObject and
#          TriggerAuthentication in the cluster), namespace keda and KEDA's cluster-scoped RBAC.
# Not run: the metrics apiserver (only ScaledObjects, i.e. HPAs, need it) and the admission
# webhooks. build.sh runs `keda.sh build`; up.sh runs `keda.sh up` once the cluster is ready.
# Usage: test/cluster/keda.sh build|up|down
set -Eeuo pipefail
CL_SCRIPT="keda"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEDA_MODULE="github.com/kedacore/keda/v2"
KEDA_DIR="${CL_CACHE}/keda"
KEDA_BIN="${CL_BIN}/keda-operator"
KEDA_IMAGE="${CL_REGISTRY}/azp/keda-operator:${CL_KEDA_VERSION#v}"
KEDA_IMAGE_TAR="${CL_CACHE}/images/keda-operator.oci.tar"
KEDA_IMAGE_CONFIG='{"User":"65532:65532","Entrypoint":["/keda"]}'
KEDA_NS="keda"
# The operator registers the CloudEventSource controllers unconditionally: without the eventing
# CRDs its manager gives up after the 2 min cache-sync timeout and exits. So all six.
KEDA_CRDS=(keda.sh_scaledjobs keda.sh_scaledobjects keda.sh_triggerauthentications
  keda.sh_clustertriggerauthentications eventing.keda.sh_cloudeventsources
  eventing.keda.sh_clustercloudeventsources)
# sha256 of the module's config/rbac/role.yaml that keda_rbac was written from: a new KEDA
# version with other rules stops the build until keda_rbac has been reviewed against it.
KEDA_ROLE_SHA256="e3d31ce34be98b98d34562942bdc22d62b24be54c5ddd5de43c5bcf9ac8bbbf4"

# --- build -------------------------------------------------------------------------------------

keda_ldflags() {
  printf '%s' "-s -w -X ${KEDA_MODULE}/version.Version=${CL_KEDA_VERSION#v}"
}

# Build tag timetzdata embeds the time zone database: the image has no /usr/share/zoneinfo
# (KEDA's own image, distroless/static, has), and the cron scaler loads its timezone.
KEDA_GO_TAGS="timetzdata"

# The stamp names the version, Go, the flags and the CRD list: a change to any rebuilds.
keda_stamp() {
  printf '%s\n' "${CL_KEDA_VERSION}" "$(go env GOVERSION)" "$(keda_ldflags)" "${KEDA_GO_TAGS}" \
    "CGO_ENABLED=0 GOFLAGS=-mod=readonly -trimpath" "${KEDA_CRDS[*]}" | sha256sum | cut -d' ' -f1
}

keda_build_cached() { # STAMP
  local crd
  [[ -x "${KEDA_BIN}" && "$(cat "${CL_BIN}/.keda-stamp" 2>/dev/null)" == "$1" ]] || return 1
  for crd in "${KEDA_CRDS[@]}"; do
    [[ -s "${KEDA_DIR}/crds/${crd}.yaml" ]] || return 1
  done
}

keda_build_binary() {
  command -v go >/dev/null || cl_die "go is not on PATH (KEDA ${CL_KEDA_VERSION} needs Go >= 1.26)"
  local stamp
  stamp="$(keda_stamp)"
  if keda_build_cached "${stamp}"; then
    cl_log "keda-operator ${CL_KEDA_VERSION} cached in ${CL_BIN}"
    return 0
  fi
  local started log="${CL_CACHE}/build-keda.log" json dir commit ldflags crd
  started="$(cl_now)"
  mkdir -p "${CL_BIN}" "${KEDA_DIR}"
  rm -f "${CL_BIN}/.keda-stamp"
  cl_log "compiling keda-operator ${CL_KEDA_VERSION}; log: ${log}"
  # Outside any module (cd /), so only the proxy and GOMODCACHE are involved.
  json="$(cd / && GOFLAGS='' GOTOOLCHAIN=local go mod download -json "${KEDA_MODULE}@${CL_KEDA_VERSION}" 2>"${log}")" || {
    printf '%s\n' "${json}" >>"${log}"
    tail -n 40 "${log}" >&2
    cl_die "go mod download ${KEDA_MODULE}@${CL_KEDA_VERSION} failed"
  }
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"${json}")"
  [[ -d "${dir}" ]] || cl_die "go mod download gave no module directory: ${json}"
  # The proxy's .info carries the commit only sometimes (Origin.Hash); without it, none is set.
  commit="$(sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{40\}\)",\{0,1\}$/\1/p' <<<"${json}" | head -n 1)"
  if [[ "$(sha256sum "${dir}/config/rbac/role.yaml" | cut -d' ' -f1)" != "${KEDA_ROLE_SHA256}" ]]; then
    cl_die "${dir}/config/rbac/role.yaml changed: review keda_rbac in ${BASH_SOURCE[0]} against it, then update KEDA_ROLE_SHA256"
  fi
  rm -rf "${KEDA_DIR}/src"
  cp -r "${dir}" "${KEDA_DIR}/src"
  chmod -R u+w "${KEDA_DIR}/src"
  ldflags="$(keda_ldflags)"
  [[ -n "${commit}" ]] && ldflags+=" -X ${KEDA_MODULE}/version.GitCommit=${commit}"
  if ! (cd "${KEDA_DIR}/src" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
    go build -trimpath -tags "${KEDA_GO_TAGS}" -ldflags "${ldflags}" -o "${KEDA_BIN}.tmp" ./cmd/operator) >>"${log}" 2>&1; then
    tail -n 40 "${log}" >&2
    cl_die "go build of keda-operator failed (log: ${log})"
  fi
  mv -f "${KEDA_BIN}.tmp" "${KEDA_BIN}"
  rm -rf "${KEDA_DIR}/crds"
  mkdir -p "${KEDA_DIR}/crds"
  for crd in "${KEDA_CRDS[@]}"; do
    cp "${KEDA_DIR}/src/config/crd/bases/${crd}.yaml" "${KEDA_DIR}/crds/"
  done
  printf '%s\n' "${stamp}" >"${CL_BIN}/.keda-stamp"
  cl_log "compiled keda-operator in $(cl_elapsed "${started}")s"
}

# /keda and, as in KEDA's own image, the CA bundle (scalers call HTTPS endpoints; Go reads
# /etc/ssl/certs/ca-certificates.crt): this machine's, from Debian's ca-certificates.
keda_build_image() {
  local stamp work ca="/etc/ssl/certs/ca-certificates.crt"
  [[ -s "${ca}" ]] || cl_die "${ca} is missing (Debian package ca-certificates)"
  stamp="$({ printf '%s\n' "$(<"${CL_BIN}/.keda-stamp")" "${KEDA_IMAGE}" "${KEDA_IMAGE_CONFIG}"; cat "${ca}"; } \
    | sha256sum | cut -d' ' -f1)"
  if [[ -s "${KEDA_IMAGE_TAR}" && -s "${KEDA_IMAGE_TAR}.digest" \
    && "$(cat "${KEDA_IMAGE_TAR}.stamp" 2>/dev/null)" == "${stamp}" ]]; then
    return 0
  fi
  cl_log "building image ${KEDA_IMAGE}"
  work="$(mktemp -d)"
  mkdir -p "${work}/rootfs/etc/ssl/certs"
  cp "${KEDA_BIN}" "${work}/rootfs/keda"
  cp "${ca}" "${work}/rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 0755 "${work}/rootfs/keda" "${work}/rootfs/etc" "${work}/rootfs/etc/ssl" "${work}/rootfs/etc/ssl/certs"
  chmod 0644 "${work}/rootfs/etc/ssl/certs/ca-certificates.crt"
  cl_oci_image "${work}/rootfs" "${KEDA_IMAGE}" "${KEDA_IMAGE_TAR}" "${KEDA_IMAGE_CONFIG}"
  rm -rf "${work}"
  printf '%s\n' "${stamp}" >"${KEDA_IMAGE_TAR}.stamp"
}

keda_build() {
  keda_build_binary
  keda_build_image
}

# --- up ----------------------------------------------------------------------------------------

# The operator serves its gRPC metrics service (for the metrics apiserver, not run here) with
# mTLS from /certs and refuses to start without ca.crt, tls.crt, tls.key when cert rotation is
# off. A CA and a server cert of our own (ECDSA P-256, 10 years), kept in .cache/cluster/keda/pki.
keda_pki() {
  local pki="${KEDA_DIR}/pki" svc="keda-operator.${KEDA_NS}.svc"
  local layout="1 ${svc}"
  if [[ "$(cat "${pki}/.layout" 2>/dev/null)" == "${layout}" ]] \
    && openssl x509 -checkend 86400 -noout -in "${pki}/tls.crt" >/dev/null 2>&1; then
    return 0
  fi
  cl_log "generating the kedaorg-certs certificates in ${pki}"
  rm -rf "${pki}" && mkdir -p "${pki}" && chmod 700 "${pki}"
  openssl ecparam -name prime256v1 -genkey -noout -out "${pki}/ca.key"
  openssl req -x509 -new -key "${pki}/ca.key" -subj "/O=KEDAORG/CN=azp-cluster-keda-ca" -days 3650 -sha256 \
    -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n') \
    -extensions ca -out "${pki}/ca.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "${pki}/tls.key"
  openssl req -new -key "${pki}/tls.key" -subj "/O=KEDAORG/CN=${svc}" -out "${pki}/tls.csr"
  openssl x509 -req -in "${pki}/tls.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -out "${pki}/tls.crt" 2>/dev/null \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" \
      "authorityKeyIdentifier=keyid" \
      "subjectAltName=DNS:keda-operator,DNS:keda-operator.${KEDA_NS},DNS:${svc},DNS:${svc}.cluster.local")
  rm -f "${pki}/tls.csr"
  printf '%s\n' "${layout}" >"${pki}/.layout"
}

# Imported like up.sh's pause image; again whenever the archive's manifest digest differs from
# what containerd has under that name (the tag stays, the content may change with a rebuild).
keda_import_image() {
  local want have
  want="$(<"${KEDA_IMAGE_TAR}.digest")"
  have="$(cl_ctr images ls "name==${KEDA_IMAGE}" 2>/dev/null | awk 'NR == 2 { print $3 }')"
  [[ "${have}" == "${want}" ]] && return 0
  cl_log "importing ${KEDA_IMAGE} into containerd"
  cl_ctr images import "${KEDA_IMAGE_TAR}" >/dev/null
}

# KEDA's CRDs with the labels of its release manifests and Helm chart.
keda_crds() {
  local crd
  for crd in "${KEDA_CRDS[@]}"; do
    printf -- '---\n'
    awk -v version="${CL_KEDA_VERSION#v}" '
      !done && /^metadata:$/ {
        print
        print "  labels:"
        print "    app.kubernetes.io/version: \"" version "\""
        print "    app.kubernetes.io/part-of: keda-operator"
        done = 1
        next
      }
      { print }' "${KEDA_DIR}/crds/${crd}.yaml"
  done
}

# KEDA's config/rbac/role.yaml and role_binding.yaml (v2.21.0), trimmed to what the operator
# needs with these flags and ScaledJobs. Dropped:
#   - admissionregistration validatingwebhookconfigurations, apiregistration apiservices:
#     only patched by the certificate manager (--enable-cert-rotation=false,
#     --enable-webhook-patching=false, --enable-apiservice-patching=false);
#   - secrets create/update/patch/delete in keda (Role): only the certificate manager writes
#     kedaorg-certs; reading secrets stays (ClusterRole: trigger authentication, env resolution);
#   - "*/scale" get/list/watch/update/patch, "*" get, apps deployments/replicasets/statefulsets
#     list/watch, horizontalpodautoscalers create/update/patch/delete: a ScaledObject's scale
#     target and its HPA. ScaledObjects do not work with this RBAC (KEDA still watches HPAs: the
#     ScaledObject controller always runs, so HPA get/list/watch stays);
#   - limitranges list/watch: only the admission webhook reads them.
# Kept in the keda Role: leases (leader election; off here, --leader-elect=true would need them).
keda_rbac() {
  cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: keda-operator
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
rules:
- apiGroups: [""]
  resources: [configmaps, configmaps/status, external, pods, secrets, services]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, delete, get, list, patch, update, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [eventing.keda.sh]
  resources: [cloudeventsources, cloudeventsources/status, clustercloudeventsources, clustercloudeventsources/status]
  verbs: [get, list, patch, update, watch]
- apiGroups: [keda.sh]
  resources: [clustertriggerauthentications, clustertriggerauthentications/status, scaledjobs,
    scaledjobs/finalizers, scaledjobs/status, scaledobjects, scaledobjects/finalizers,
    scaledobjects/status, triggerauthentications, triggerauthentications/status]
  verbs: [get, list, patch, update, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: keda-operator
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: keda-operator}
subjects:
- {kind: ServiceAccount, name: keda-operator, namespace: ${KEDA_NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: keda-operator
  namespace: ${KEDA_NS}
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create, delete, get, list, patch, update, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: keda-operator
  namespace: ${KEDA_NS}
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: keda-operator}
subjects:
- {kind: ServiceAccount, name: keda-operator, namespace: ${KEDA_NS}}
EOF
}

keda_manifests() {
  local pki="${KEDA_DIR}/pki" version="${CL_KEDA_VERSION#v}" digest
  digest="$(<"${KEDA_IMAGE_TAR}.digest")"
  cat <<EOF
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${KEDA_NS}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: keda-operator
  namespace: ${KEDA_NS}
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
EOF
  keda_rbac
  cat <<EOF
---
apiVersion: v1
kind: Secret
metadata:
  name: kedaorg-certs
  namespace: ${KEDA_NS}
  labels: {app.kubernetes.io/name: keda-operator, app.kubernetes.io/part-of: keda-operator}
type: kubernetes.io/tls
data:
  ca.crt: $(base64 -w0 <"${pki}/ca.crt")
  tls.crt: $(base64 -w0 <"${pki}/tls.crt")
  tls.key: $(base64 -w0 <"${pki}/tls.key")
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: keda-operator
  namespace: ${KEDA_NS}
  labels:
    app: keda-operator
    app.kubernetes.io/name: keda-operator
    app.kubernetes.io/component: operator
    app.kubernetes.io/part-of: keda-operator
    app.kubernetes.io/version: "${version}"
spec:
  replicas: 1
  revisionHistoryLimit: 2
  # Never two operators at once: leader election is off.
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: keda-operator}
  template:
    metadata:
      labels:
        app: keda-operator
        app.kubernetes.io/name: keda-operator
        app.kubernetes.io/component: operator
        app.kubernetes.io/part-of: keda-operator
        app.kubernetes.io/version: "${version}"
      annotations:
        # A rebuilt image keeps its tag: the digest here rolls the pod when the content changes.
        azp-cluster/image-digest: "${digest}"
    spec:
      serviceAccountName: keda-operator
      enableServiceLinks: false
      terminationGracePeriodSeconds: 10
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: keda-operator
        image: ${KEDA_IMAGE}
        imagePullPolicy: IfNotPresent
        args:
        - --leader-elect=false
        - --zap-log-level=info
        - --zap-encoder=console
        - --zap-time-encoding=rfc3339
        - --enable-cert-rotation=false
        - --enable-webhook-patching=false
        - --enable-apiservice-patching=false
        - --metrics-bind-address=:8080
        - --health-probe-bind-address=:8081
        env:
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - {name: WATCH_NAMESPACE, value: ""}
        - {name: KEDA_HTTP_DEFAULT_TIMEOUT, value: "3000"}
        ports:
        - {name: metrics, containerPort: 8080, protocol: TCP}
        - {name: probes, containerPort: 8081, protocol: TCP}
        - {name: grpc, containerPort: 9666, protocol: TCP}
        livenessProbe:
          httpGet: {path: /healthz, port: 8081}
          initialDelaySeconds: 15
          periodSeconds: 10
        readinessProbe:
          httpGet: {path: /readyz, port: 8081}
          periodSeconds: 2
        resources:
          requests: {cpu: 50m, memory: 64Mi}
          limits: {memory: 1000Mi}
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
          seccompProfile: {type: RuntimeDefault}
        volumeMounts:
        - {name: certificates, mountPath: /certs, readOnly: true}
      volumes:
      - name: certificates
        secret: {secretName: kedaorg-certs}
EOF
}

keda_up() {
  local started
  started="$(cl_now)"
  [[ -x "${CL_BIN}/kubectl" && -s "${CL_KUBECONFIG}" ]] || cl_die "no cluster: run test/cluster/up.sh"
  cl_kubectl get --raw /readyz >/dev/null 2>&1 || cl_die "the cluster's apiserver is not ready: run test/cluster/up.sh"
  [[ -S "${CL_CTR_SOCK}" ]] || cl_die "the cluster's containerd is not running: run test/cluster/up.sh"
  keda_build
  keda_pki
  keda_import_image
  # Server-side: the ScaledJob CRD (~650 KB) is too large for client-side apply's annotation.
  { keda_crds; keda_manifests; } | cl_kubectl apply --server-side --force-conflicts \
    --field-manager=azp-cluster -f - >/dev/null
  if ! cl_kubectl -n "${KEDA_NS}" rollout status deployment/keda-operator --timeout=120s >/dev/null; then
    cl_kubectl -n "${KEDA_NS}" get pods -o wide >&2 || true
    cl_kubectl -n "${KEDA_NS}" logs deployment/keda-operator --tail=50 >&2 || true
    cl_die "deployment ${KEDA_NS}/keda-operator did not become available within 120 s"
  fi
  cl_log "keda-operator ${CL_KEDA_VERSION} available ($(cl_elapsed "${started}")s)"
}

# --- down --------------------------------------------------------------------------------------

keda_down() {
  local crd names=()
  for crd in "${KEDA_CRDS[@]}"; do names+=("${crd#*_}.${crd%%_*}"); done
  # CRDs first, while the operator still runs and removes its finalizers from ScaledJobs.
  cl_kubectl delete crd "${names[@]}" --ignore-not-found --timeout=60s
  cl_kubectl delete namespace "${KEDA_NS}" --ignore-not-found --timeout=60s
  cl_kubectl delete clusterrolebinding,clusterrole keda-operator --ignore-not-found
}

keda_main() {
  case "${1:-}" in
    build) keda_build ;;
    up) keda_up ;;
    down) keda_down ;;
    *) cl_die "usage: $0 build|up|down" ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  keda_main "$@"
fi
