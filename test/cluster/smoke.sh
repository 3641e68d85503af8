#!/usr/bin/env bash
# Smoke test of a cluster started by up.sh (or any cluster described by .cache/cluster/env).
# Checks, in namespace azp-smoke:
#   1. a pod whose image comes from the local registry (${REGISTRY}) reaches the API server
#      through the `kubernetes` Service ($KUBERNETES_SERVICE_HOST) with its projected
#      ServiceAccount token: 200 where a Role allows it, 403 where RBAC does not,
#   2. the same pod reaches an HTTP server on the host via HOST_IP_FOR_PODS,
#   3. a 2-replica Deployment becomes available, and a deleted pod is replaced,
#   4. a CronJob creates a Job that completes,
#   5. a pod with a native sidecar (initContainer with restartPolicy: Always) succeeds.
# Exits non-zero with pod descriptions, events and component log tails on failure.
# Usage: test/cluster/smoke.sh
set -Eeuo pipefail
CL_SCRIPT="cluster-smoke"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE_NS="azp-smoke"
SMOKE_HOST_PORT="${SMOKE_HOST_PORT:-18089}"
SMOKE_IMAGE_TAG="azp/cluster-smoke:bookworm-curl-1"
SMOKE_DIR=""
SMOKE_HTTP_PID=""

smoke_kubectl() { "${KUBECTL}" --kubeconfig "${KUBECONFIG}" "$@"; }

smoke_cleanup() {
  if [[ -n "${SMOKE_HTTP_PID}" ]]; then kill "${SMOKE_HTTP_PID}" 2>/dev/null || true; fi
  if [[ -n "${SMOKE_DIR}" ]]; then rm -rf "${SMOKE_DIR}"; fi
}

smoke_fail() {
  cl_log "FAILED: $*"
  {
    echo "--- pods"
    smoke_kubectl -n "${SMOKE_NS}" get pods -o wide
    echo "--- describe pods"
    smoke_kubectl -n "${SMOKE_NS}" describe pods
    echo "--- events"
    smoke_kubectl -n "${SMOKE_NS}" get events --sort-by=.lastTimestamp
    local name
    for name in kubelet containerd kube-controller-manager kube-scheduler kube-proxy kube-apiserver; do
      [[ -f "${CL_LOGS}/${name}.log" ]] || continue
      echo "--- last lines of ${CL_LOGS}/${name}.log"
      tail -n 15 "${CL_LOGS}/${name}.log"
    done
  } >&2 2>&1 || true
  exit 1
}

smoke_env() {
  [[ -s "${CL_ENV_FILE}" ]] || cl_die "no ${CL_ENV_FILE}: run test/cluster/up.sh first"
  # shellcheck disable=SC1090
  set -a && source "${CL_ENV_FILE}" && set +a
  : "${KUBECONFIG:?}" "${HOST_IP_FOR_PODS:?}" "${REGISTRY:?}"
  KUBECTL="${KUBECTL:-$(command -v kubectl)}"
}

# The pod image: the base image plus curl, pushed to the local registry once.
smoke_image() {
  SMOKE_IMAGE="${REGISTRY}/${SMOKE_IMAGE_TAG}"
  if curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://${REGISTRY}/v2/${SMOKE_IMAGE_TAG%%:*}/manifests/${SMOKE_IMAGE_TAG##*:}"; then
    return 0
  fi
  bash "${CL_REPO}/tools/docker-up.sh" all
  cl_log "building ${SMOKE_IMAGE}"
  printf 'FROM local/debian:bookworm\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*\n' \
    | docker build -q -t "${SMOKE_IMAGE}" - >/dev/null
  docker push -q "${SMOKE_IMAGE}" >/dev/null
}

smoke_host_server() {
  SMOKE_DIR="$(mktemp -d)"
  SMOKE_TOKEN="host-ok-$$-${RANDOM}"
  printf '%s\n' "${SMOKE_TOKEN}" >"${SMOKE_DIR}/hello.txt"
  (cd "${SMOKE_DIR}" && exec python3 -m http.server --bind 0.0.0.0 "${SMOKE_HOST_PORT}") \
    >"${SMOKE_DIR}/http.log" 2>&1 &
  SMOKE_HTTP_PID=$!
  cl_wait_for "host HTTP server" 15 curl -fsS "http://127.0.0.1:${SMOKE_HOST_PORT}/hello.txt" \
    || smoke_fail "the host HTTP server did not start"
}

smoke_namespace() {
  if smoke_kubectl get namespace "${SMOKE_NS}" >/dev/null 2>&1; then
    smoke_kubectl delete namespace "${SMOKE_NS}" --wait=true --timeout=120s >/dev/null
  fi
  smoke_kubectl create namespace "${SMOKE_NS}" >/dev/null
  cl_wait_for "ServiceAccount ${SMOKE_NS}/default" 60 smoke_kubectl -n "${SMOKE_NS}" get serviceaccount default \
    || smoke_fail "no default ServiceAccount in ${SMOKE_NS}"
}

smoke_apply() { smoke_kubectl -n "${SMOKE_NS}" apply -f - >/dev/null; }

# Waits until pod $1 has phase Succeeded (fails at Failed or after $2 seconds).
smoke_wait_pod_succeeded() {
  local pod="$1" timeout="$2" phase="" deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    phase="$(smoke_kubectl -n "${SMOKE_NS}" get pod "${pod}" -o 'jsonpath={.status.phase}' 2>/dev/null || true)"
    case "${phase}" in
      Succeeded) return 0 ;;
      Failed) break ;;
    esac
    sleep 0.5
  done
  smoke_kubectl -n "${SMOKE_NS}" logs "${pod}" --all-containers >&2 || true
  smoke_fail "pod ${pod} ended in phase '${phase}' (timeout ${timeout}s)"
}

smoke_start_cronjob() {
  smoke_apply <<EOF
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: tick, image: ${SMOKE_IMAGE}, command: [sh, -c, "echo tick-ok"]}
EOF
}

smoke_api_and_host() {
  smoke_apply <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-pod-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: default, namespace: ${SMOKE_NS}}
---
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: ${SMOKE_IMAGE}
    imagePullPolicy: Always   # resolve it in the registry every run, even when cached
    env:
    - {name: HOST_URL, value: "http://${HOST_IP_FOR_PODS}:${SMOKE_HOST_PORT}/hello.txt"}
    command:
    - bash
    - -ec
    - |
      sa=/var/run/secrets/kubernetes.io/serviceaccount
      api="https://\${KUBERNETES_SERVICE_HOST}:\${KUBERNETES_SERVICE_PORT}"
      call() { curl -sS --max-time 10 --cacert "\$sa/ca.crt" -H "Authorization: Bearer \$(cat "\$sa/token")" -o /tmp/body -w '%{http_code}' "\$api\$1"; }
      echo "api=\$api"
      echo "allowed=\$(call /api/v1/namespaces/${SMOKE_NS}/pods) kind=\$(grep -o '"kind": *"[A-Za-z]*"' /tmp/body | head -n1)"
      echo "denied=\$(call /api/v1/nodes) reason=\$(grep -o '"reason": *"[A-Za-z]*"' /tmp/body | head -n1)"
      echo "host=\$(curl -sS --max-time 10 "\$HOST_URL")"
EOF
  smoke_wait_pod_succeeded probe 180
  local out
  out="$(smoke_kubectl -n "${SMOKE_NS}" logs probe)"
  printf '%s\n' "${out}" | sed 's/^/  probe: /' >&2
  grep -q '^allowed=200 kind="kind": *"PodList"' <<<"${out}" || smoke_fail "pod did not get 200 PodList from the API"
  grep -q '^denied=403 reason="reason": *"Forbidden"' <<<"${out}" || smoke_fail "pod did not get 403 Forbidden from the API"
  grep -qx "host=${SMOKE_TOKEN}" <<<"${out}" || smoke_fail "pod did not reach the host server at ${HOST_IP_FOR_PODS}:${SMOKE_HOST_PORT}"
  cl_log "ok: pod image pulled from ${REGISTRY}; API via Service with SA token (200 allowed / 403 denied); host server via ${HOST_IP_FOR_PODS}"
}

smoke_deployment() {
  smoke_apply <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: web, image: ${SMOKE_IMAGE}, command: [sleep, infinity]}
EOF
  smoke_kubectl -n "${SMOKE_NS}" rollout status deployment/web --timeout=120s >/dev/null \
    || smoke_fail "deployment web did not become available"
  local before victim after="" deadline=$((SECONDS + 120))
  before="$(smoke_kubectl -n "${SMOKE_NS}" get pods -l app=web -o 'jsonpath={.items[*].metadata.name}')"
  victim="${before%% *}"
  smoke_kubectl -n "${SMOKE_NS}" delete pod "${victim}" --wait=false >/dev/null
  while ((SECONDS < deadline)); do
    after="$(smoke_kubectl -n "${SMOKE_NS}" get deployment web -o 'jsonpath={.status.availableReplicas}')"
    if [[ "${after}" == 2 ]] && ! smoke_kubectl -n "${SMOKE_NS}" get pods -l app=web \
      -o 'jsonpath={.items[*].metadata.name}' | grep -qw "${victim}"; then
      cl_log "ok: deployment web 2/2 available; deleted pod ${victim} was replaced ($(smoke_kubectl -n "${SMOKE_NS}" get pods -l app=web -o 'jsonpath={.items[*].metadata.name}'))"
      return 0
    fi
    sleep 0.5
  done
  smoke_fail "deleted pod ${victim} was not replaced (available=${after})"
}

smoke_sidecar() {
  smoke_apply <<EOF
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  restartPolicy: Never
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: helper
    image: ${SMOKE_IMAGE}
    restartPolicy: Always
    command: [bash, -c, "echo sidecar-ok > /shared/flag; exec sleep infinity"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: main
    image: ${SMOKE_IMAGE}
    command: [bash, -c, "for i in \$(seq 100); do [ -s /shared/flag ] && { cat /shared/flag; exit 0; }; sleep 0.1; done; exit 1"]
    volumeMounts: [{name: shared, mountPath: /shared}]
EOF
  smoke_wait_pod_succeeded sidecar 120
  [[ "$(smoke_kubectl -n "${SMOKE_NS}" logs sidecar -c main)" == sidecar-ok ]] \
    || smoke_fail "main container did not see the sidecar's file"
  cl_log "ok: native sidecar ran alongside the main container, pod Succeeded"
}

smoke_cronjob() {
  local job="" deadline=$((SECONDS + 150))
  while ((SECONDS < deadline)); do
    job="$(smoke_kubectl -n "${SMOKE_NS}" get jobs -o 'jsonpath={range .items[?(@.status.succeeded==1)]}{.metadata.name}{"\n"}{end}' | head -n1)"
    [[ -n "${job}" ]] && break
    sleep 1
  done
  [[ -n "${job}" ]] || smoke_fail "CronJob tick created no successful Job in 150s"
  smoke_kubectl -n "${SMOKE_NS}" logs "job/${job}" | grep -qx tick-ok || smoke_fail "Job ${job} printed no tick-ok"
  cl_log "ok: CronJob tick created Job ${job}, which completed"
}

smoke_main() {
  local started
  started="$(cl_now)"
  trap smoke_cleanup EXIT
  trap 'smoke_fail "command failed at line ${LINENO}"' ERR
  smoke_env
  smoke_image
  smoke_host_server
  smoke_namespace
  smoke_start_cronjob
  smoke_api_and_host
  smoke_deployment
  smoke_sidecar
  smoke_cronjob
  smoke_kubectl delete namespace "${SMOKE_NS}" --wait=false >/dev/null
  cl_log "all smoke checks passed in $(cl_elapsed "${started}")s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  smoke_main "$@"
fi
