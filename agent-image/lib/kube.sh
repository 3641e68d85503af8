# shellcheck shell=bash
#
# Minimal Kubernetes API client (curl + the pod's projected ServiceAccount token): what the
# article did with a downloaded kubectl, without installing anything at run time.
# Requires common.sh. Functions are prefixed kube_; globals KUBE_.

KUBE_STATUS=""       # HTTP status of the last request, "000" when no answer arrived
KUBE_BODY=""
KUBE_CURL_ERROR=""
KUBE_MESSAGE=""      # .message of a Kubernetes Status object
KUBE_ATTEMPTS=0
KUBE_PROBLEM=""
KUBE_EXIT=0

readonly KUBE_CONNECT_TIMEOUT=10
readonly KUBE_MAX_TIME=30

# kube_available: true inside a pod whose ServiceAccount token is mounted. Both the in-cluster
# API address (set by the kubelet in every container) and the token are needed.
kube_available() {
  [[ -n "${KUBERNETES_SERVICE_HOST:-}" && -s "${AZP_PATH_SERVICE_ACCOUNT}/token" ]]
}

# kube_api_url: https://<host>:<port> of the in-cluster API (IPv6 hosts in brackets).
kube_api_url() {
  local host="${KUBERNETES_SERVICE_HOST:-}"
  [[ "${host}" != *:* ]] || host="[${host}]"
  printf 'https://%s:%s\n' "${host}" "${KUBERNETES_SERVICE_PORT:-443}"
}

# kube_namespace <value of the namespace setting>: the setting, else the pod's own namespace
# from the ServiceAccount mount.
kube_namespace() {
  local value="$1" file="${AZP_PATH_SERVICE_ACCOUNT}/namespace"
  if [[ -z "${value}" && -r "${file}" ]]; then
    IFS= read -r value <"${file}" || true
  fi
  printf '%s\n' "${value}"
}

# kube_request <method> <api path> [<content type> <body>]: the token is re-read on every
# call (projected tokens rotate) and reaches curl through its config on stdin, never argv.
kube_request() {
  local method="$1" path="$2" content_type="${3-}" body="${4-}"
  local token=""
  IFS= read -r -d '' token <"${AZP_PATH_SERVICE_ACCOUNT}/token" || true
  token="${token//[[:space:]]/}"
  local -a args=(
    --disable --silent --show-error --config -
    --cacert "${AZP_PATH_SERVICE_ACCOUNT}/ca.crt" --noproxy '*'
    --request "${method}" --url "$(kube_api_url)${path}"
    --header "Accept: application/json"
    --user-agent "azp-agent-image/${AZP_IMAGE_VERSION}"
    --connect-timeout "${KUBE_CONNECT_TIMEOUT}" --max-time "${KUBE_MAX_TIME}"
    --write-out '\n%{http_code}\t%{errormsg}'
  )
  if [[ -n "${content_type}" ]]; then
    args+=(--header "Content-Type: ${content_type}" --data-binary "${body}")
  fi
  local raw
  raw="$(printf 'header = "Authorization: Bearer %s"\n' "${token}" | curl "${args[@]}" 2>/dev/null)" || true
  kube_parse_response "${raw}"
}

# kube_parse_response <raw curl output>
kube_parse_response() {
  local raw="$1"
  local trailer="${raw##*$'\n'}"
  KUBE_STATUS="${trailer%%$'\t'*}"
  KUBE_CURL_ERROR="${trailer#*$'\t'}"
  [[ "${KUBE_STATUS}" =~ ^[0-9]{3}$ ]] || KUBE_STATUS="000"
  KUBE_BODY=""
  [[ "${raw}" != *$'\n'* ]] || KUBE_BODY="${raw%$'\n'*}"
  KUBE_MESSAGE="$(jq -r 'if type == "object" then (.message // "") else "" end' <<<"${KUBE_BODY}" 2>/dev/null)" || KUBE_MESSAGE=""
  text_safe KUBE_MESSAGE "${KUBE_MESSAGE}"
  text_safe KUBE_CURL_ERROR "${KUBE_CURL_ERROR}"
}

# kube_request_retry <attempts> <args of kube_request...>: retries no answer, 5xx and 429 —
# but not after SIGTERM: the pod is going away, the caller has nothing left to wait for.
kube_request_retry() {
  local attempts="$1"
  shift
  KUBE_ATTEMPTS=0
  while :; do
    KUBE_ATTEMPTS=$((KUBE_ATTEMPTS + 1))
    kube_request "$@"
    [[ "${KUBE_STATUS}" == 000 || "${KUBE_STATUS}" == 5?? || "${KUBE_STATUS}" == 429 ]] || return 0
    ((KUBE_ATTEMPTS < attempts && TERM_RECEIVED == 0)) || return 0
    local delay
    delay="$(retry_delay "${KUBE_ATTEMPTS}")"
    log_warn "Kubernetes API attempt ${KUBE_ATTEMPTS}/${attempts} failed (HTTP ${KUBE_STATUS}${KUBE_CURL_ERROR:+: ${KUBE_CURL_ERROR}}); retrying in ${delay}s"
    retry_sleep "${delay}"
  done
}

# kube_problem <what was being done> <permission the Role must grant>: sets KUBE_PROBLEM and
# KUBE_EXIT for the last answer.
# shellcheck disable=SC2034  # KUBE_PROBLEM and KUBE_EXIT are outputs for the caller
kube_problem() {
  local what="$1" permission="$2"
  local detail=""
  [[ -z "${KUBE_MESSAGE}" ]] || detail=": ${KUBE_MESSAGE}"
  case "${KUBE_STATUS}" in
    000)
      KUBE_EXIT="${EXIT_UNREACHABLE}"
      KUBE_PROBLEM="cannot reach the Kubernetes API at $(kube_api_url) while ${what}: ${KUBE_CURL_ERROR:-no answer}"
      ;;
    401)
      KUBE_EXIT="${EXIT_AUTH}"
      KUBE_PROBLEM="the Kubernetes API rejected the ServiceAccount token while ${what} (HTTP 401${detail})"
      ;;
    403)
      KUBE_EXIT="${EXIT_AUTH}"
      KUBE_PROBLEM="the Kubernetes API forbids ${what} (HTTP 403${detail}); the Role bound to this ServiceAccount must allow ${permission}"
      ;;
    404)
      KUBE_EXIT="${EXIT_REJECTED}"
      KUBE_PROBLEM="not found while ${what} (HTTP 404${detail})"
      ;;
    *)
      KUBE_EXIT="${EXIT_REJECTED}"
      KUBE_PROBLEM="the Kubernetes API failed ${what} (HTTP ${KUBE_STATUS}${detail})"
      ;;
  esac
}

# kube_delete_pod <attempts> <namespace> <pod> [<uid>]: DELETE of a pod, only that very pod when
# its uid is given (precondition). Logs the outcome; 0 when the pod is deleted or already gone,
# 1 otherwise (KUBE_PROBLEM / KUBE_EXIT say why).
kube_delete_pod() {
  local attempts="$1" namespace="$2" pod="$3" uid="${4:-}"
  local path="/api/v1/namespaces/${namespace}/pods/${pod}"
  if [[ "${uid}" =~ ^[0-9a-f-]{36}$ ]]; then
    kube_request_retry "${attempts}" DELETE "${path}" application/json \
      "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"preconditions\":{\"uid\":\"${uid}\"}}"
  else
    kube_request_retry "${attempts}" DELETE "${path}"
  fi
  case "${KUBE_STATUS}" in
    200 | 202) log_info "deleted pod ${namespace}/${pod}; the Deployment replaces it" ;;
    404 | 409) log_info "pod ${namespace}/${pod} is already gone" ;;
    *)
      kube_problem "deleting pod ${namespace}/${pod}" "'delete' on 'pods'"
      log_error "${KUBE_PROBLEM}"
      return 1
      ;;
  esac
}
