# shellcheck shell=bash
#
# Azure DevOps REST client for the image's commands: one request helper that classifies
# every answer the service can give (ado-contract.md §1.5, §2), bounded retries with
# exponential backoff for network errors and 5xx, and one message per failure class.
# Requires common.sh. Functions are prefixed ado_; globals ADO_.
#
# Why not `curl -f` + `jq`: Azure DevOps answers a rejected PAT with 401 (invalid), 401 plus
# X-TFS-ServiceError (expired) or 203 with an HTML sign-in page (which `curl -f` counts as
# success and `jq` chokes on). Each deserves its own message and none deserves a retry.

# Organization URL used in messages; set by ado_init.
ADO_BASE_URL=""

# Results of the last ado_request.
ADO_STATUS=""         # HTTP status, "000" when no answer arrived
ADO_CONTENT_TYPE=""
ADO_BODY=""
ADO_CURL_ERROR=""     # curl's message when no answer arrived
ADO_JSON_OK=0         # 1 when ADO_BODY parsed as JSON
ADO_TYPE_KEY=""       # WrappedException typeKey (ado-contract.md §1.5)
ADO_MESSAGE=""        # WrappedException message
ADO_SERVICE_ERROR=""  # URL-decoded X-TFS-ServiceError header (§2: expired PAT)
ADO_CLASS=""          # see ado_classify
ADO_ATTEMPTS=0        # attempts made by the last ado_request_retry
ADO_PROBLEM=""        # one-line description of a failure (ado_problem)
ADO_EXIT=0            # exit code matching ADO_CLASS (ado_problem)

# Per-request limits: connecting should be quick; a whole answer (a package list, an agent)
# is small. Downloads use their own limits.
readonly ADO_CONNECT_TIMEOUT=10
readonly ADO_MAX_TIME=60

# The api-version of every resource the image calls (ado-contract.md §1.3): the service refuses a
# POST/PUT/PATCH/DELETE without one (400 VssVersionNotSpecifiedException), and a released version
# on a resource that is only in preview (VssInvalidPreviewVersionException). 7.1 where the resource
# is GA in the REST spec (taskAgent-7.1.json: pools, agents); otherwise the preview version the
# agent's own client sends (TaskAgentHttpClientBase.cs), and a preview one for connectionData.
declare -rA ADO_API_VERSIONS=(
  [connectionData]="7.1-preview"
  [pools]="7.1"
  [agents]="7.1"
  [packages]="5.1-preview.2"
  [jobrequests]="5.1-preview.1"
)

# ado_init <organization url>
ado_init() {
  ADO_BASE_URL="$1"
}

# ado_url <resource> <path under _apis/, with its query>: the one way the image builds an Azure
# DevOps URL; it always carries the resource's api-version.
ado_url() {
  local resource="$1" path="$2"
  local version="${ADO_API_VERSIONS[${resource}]:-}"
  [[ -n "${version}" ]] || die "${EXIT_FAILURE}" "ado_url: no api-version for resource '${resource}' (a bug in the image)"
  local separator="?"
  [[ "${path}" != *\?* ]] || separator="&"
  printf '%s/_apis/%s%sapi-version=%s\n' "${ADO_BASE_URL}" "${path}" "${separator}" "${version}"
}

# ado_uri_component <text>: percent-encodes a query value (pool and agent names).
ado_uri_component() {
  jq -rn --arg value "$1" '$value | @uri'
}

# ado_parse_response <raw curl output>: splits the output of
#   curl --write-out '\n%{http_code}\t%{content_type}\t%{errormsg}\t%header{x-tfs-serviceerror}'
# into the ADO_* fields. Separate from the request so that tests can feed it recorded answers.
# (Not `--dump-header -`: curl does not order a header dump and the body on one stdout.)
ado_parse_response() {
  local raw="$1"
  local trailer="${raw##*$'\n'}"
  ADO_BODY=""
  [[ "${raw}" != *$'\n'* ]] || ADO_BODY="${raw%$'\n'*}"
  # "<status>\t<content type>\t<curl error>\t<service error>": fields may be empty, so split by
  # hand (a tab is IFS whitespace: `read` would merge empty fields).
  local -a fields=()
  while [[ "${trailer}" == *$'\t'* ]]; do
    fields+=("${trailer%%$'\t'*}")
    trailer="${trailer#*$'\t'}"
  done
  fields+=("${trailer}")
  ADO_STATUS="${fields[0]:-000}"
  [[ "${ADO_STATUS}" =~ ^[0-9]{3}$ ]] || ADO_STATUS="000"
  ADO_CONTENT_TYPE="${fields[1]:-}"
  text_safe ADO_CONTENT_TYPE "${ADO_CONTENT_TYPE}" 100
  text_safe ADO_CURL_ERROR "${fields[2]:-}"
  ADO_SERVICE_ERROR="${fields[3]:-}"
  # curl older than 7.84 prints %header{...} literally: then the header is unknown.
  [[ "${ADO_SERVICE_ERROR}" != *"%header{"* ]] || ADO_SERVICE_ERROR=""
  text_url_decode ADO_SERVICE_ERROR "${ADO_SERVICE_ERROR}"
  text_safe ADO_SERVICE_ERROR "${ADO_SERVICE_ERROR}"
  if [[ "${ADO_STATUS}" == "000" ]]; then
    ADO_BODY=""
  fi

  ADO_JSON_OK=0
  ADO_TYPE_KEY=""
  ADO_MESSAGE=""
  if [[ -n "${ADO_BODY//[[:space:]]/}" && "${ADO_CONTENT_TYPE,,}" != text/html* ]]; then
    local parsed
    if parsed="$(jq -r "${COMMON_JQ_FIELDS}"' if type == "object" then [.typeKey, .message] else [] end | fields' \
      <<<"${ADO_BODY}" 2>/dev/null)"; then
      ADO_JSON_OK=1
      IFS=$'\x1f' read -r ADO_TYPE_KEY ADO_MESSAGE <<<"${parsed}" || true
      text_safe ADO_TYPE_KEY "${ADO_TYPE_KEY}" 100
      text_safe ADO_MESSAGE "${ADO_MESSAGE}"
    fi
  fi
  ado_classify
}

# ado_classify: sets ADO_CLASS from the parsed answer:
#   ok            2xx with a JSON (or empty) body
#   unreachable   no HTTP answer (DNS, connect, TLS, timeout)            -> retried
#   server_error  5xx or 429                                             -> retried
#   signin        203 / any 2xx text/html / 3xx: the sign-in page (§2)
#   token_expired 401 whose X-TFS-ServiceError (or message) says "expired"
#   auth_denied   401 with another X-TFS-ServiceError
#   token_invalid 401 without X-TFS-ServiceError (TF400813 and the like)
#   forbidden     403
#   not_found     404
#   busy          400/409 TaskAgentBusyException ("is running a job", §3.7)
#   bad_response  2xx whose body is not JSON
#   client_error  any other 4xx
ado_classify() {
  local status="${ADO_STATUS:-000}"
  local content_type="${ADO_CONTENT_TYPE,,}"
  if [[ "${status}" == "000" ]]; then
    ADO_CLASS="unreachable"
  elif [[ "${status}" == 203 || ("${status}" == 2?? && "${content_type}" == text/html*) || "${status}" == 3?? ]]; then
    # The sign-in page, or a redirect to it (curl does not follow redirects here).
    ADO_CLASS="signin"
  elif [[ "${status}" == 2?? ]]; then
    if [[ -z "${ADO_BODY//[[:space:]]/}" ]] || ((ADO_JSON_OK)); then
      ADO_CLASS="ok"
    else
      ADO_CLASS="bad_response"
    fi
  elif [[ "${status}" == 401 ]]; then
    if [[ "${ADO_SERVICE_ERROR,,}" == *expired* || "${ADO_MESSAGE,,}" == *"has expired"* ]]; then
      ADO_CLASS="token_expired"
    elif [[ -n "${ADO_SERVICE_ERROR}" ]]; then
      ADO_CLASS="auth_denied"
    else
      ADO_CLASS="token_invalid"
    fi
  elif [[ "${status}" == 403 ]]; then
    ADO_CLASS="forbidden"
  elif [[ "${status}" == 404 ]]; then
    ADO_CLASS="not_found"
  elif [[ ("${status}" == 400 || "${status}" == 409) \
    && ("${ADO_TYPE_KEY}" == TaskAgentBusyException || "${ADO_MESSAGE}" == *"is running a job"*) ]]; then
    ADO_CLASS="busy"
  elif [[ "${status}" == 5?? || "${status}" == 429 ]]; then
    ADO_CLASS="server_error"
  else
    ADO_CLASS="client_error"
  fi
}

# ado_request <method> <url from ado_url> [<json body>]: one request authenticated with COMMON_TOKEN
# (an Entra token is renewed first when it expires soon: token_fresh).
# The Authorization header reaches curl through its config on stdin (`-K -`), so the credential
# is on no command line (/proc/*/cmdline is world-readable).
# Deliberately no `X-TFS-FedAuthRedirect: Suppress`: a rejected PAT then shows up as the
# sign-in page it produces for users too, and ado_classify recognises it.
ado_request() {
  local method="$1" url="$2" body="${3-}"
  # --disable must come first: no ~/.curlrc may change what is sent.
  local -a args=(
    --disable --silent --show-error --config -
    --request "${method}" --url "${url}"
    --header "Accept: application/json"
    --user-agent "azp-agent-image/${AZP_IMAGE_VERSION}"
    --connect-timeout "${ADO_CONNECT_TIMEOUT}" --max-time "${ADO_MAX_TIME}"
    --write-out '\n%{http_code}\t%{content_type}\t%{errormsg}\t%header{x-tfs-serviceerror}'
  )
  if [[ -n "${body}" ]]; then
    args+=(--header "Content-Type: application/json" --data-binary "${body}")
  fi
  local raw
  token_fresh
  raw="$(token_auth_header | curl "${args[@]}" 2>/dev/null)" || true
  ado_parse_response "${raw}"
}

# ado_request_retry <attempts> <method> <url> [<json body>]: retries network errors and
# 5xx with exponential backoff; any other answer (including auth failures) returns at once.
ado_request_retry() {
  local attempts="$1"
  shift
  ADO_ATTEMPTS=0
  while :; do
    ADO_ATTEMPTS=$((ADO_ATTEMPTS + 1))
    ado_request "$@"
    case "${ADO_CLASS}" in
      unreachable | server_error) ;;
      *) return 0 ;;
    esac
    ((ADO_ATTEMPTS < attempts)) || return 0
    local delay
    delay="$(retry_delay "${ADO_ATTEMPTS}")"
    ado_problem "calling $1 ${2%%\?*}"
    log_warn "attempt ${ADO_ATTEMPTS}/${attempts} failed: ${ADO_PROBLEM}; retrying in ${delay}s"
    retry_sleep "${delay}"
  done
}

# ado_problem <what was being done>: sets ADO_PROBLEM and ADO_EXIT for the last answer.
ado_problem() {
  local what="$1"
  local credential fix renew
  credential="$(auth_credential_name)"
  # What to do about a refused credential, per azp.auth: `fix` for the identity's rights,
  # `renew` for a token that expired or is not accepted as a token.
  if [[ "${AUTH_MODE}" == pat ]]; then
    fix="create a PAT with the Agent Pools (Read & manage) scope and update the Secret"
    renew="${fix}"
  else
    fix="add the identity ${AUTH_CLIENT} to the organization and give it the Administrator role in the agent pool"
    renew="the image renews Entra tokens before they expire: look for an earlier 'could not renew the Entra token' warning, and check that AZP_URL's organization is connected to tenant ${AUTH_TENANT}"
  fi
  local detail=""
  [[ -z "${ADO_MESSAGE}" ]] || detail=": ${ADO_MESSAGE}"
  local tries=""
  ((ADO_ATTEMPTS <= 1)) || tries=" after ${ADO_ATTEMPTS} attempts"
  if [[ "${ADO_STATUS}" == 401 && "${ADO_SERVICE_ERROR}${ADO_MESSAGE}" == *TF401444* ]]; then
    # A valid Entra token of an identity the organization does not know (never added to it).
    ADO_EXIT="${EXIT_AUTH}"
    ADO_PROBLEM="Azure DevOps does not know the identity ${AUTH_CLIENT:-of the token} of tenant ${AUTH_TENANT:-?} (TF401444, HTTP 401 while ${what}): ${fix}"
    return 0
  fi
  case "${ADO_CLASS}" in
    ok)
      ADO_EXIT=0
      ADO_PROBLEM=""
      ;;
    unreachable)
      ADO_EXIT="${EXIT_UNREACHABLE}"
      ADO_PROBLEM="cannot reach Azure DevOps at ${ADO_BASE_URL} while ${what}${tries}: ${ADO_CURL_ERROR:-no answer}; check AZP_URL, DNS, proxy and egress network policy"
      ;;
    server_error)
      ADO_EXIT="${EXIT_UNREACHABLE}"
      ADO_PROBLEM="Azure DevOps failed while ${what}${tries} (HTTP ${ADO_STATUS}${detail}); it may be degraded, try again later"
      ;;
    signin)
      ADO_EXIT="${EXIT_AUTH}"
      ADO_PROBLEM="Azure DevOps answered with an HTML sign-in page (HTTP ${ADO_STATUS}, Content-Type '${ADO_CONTENT_TYPE:-none}') instead of JSON while ${what}: ${credential} was not accepted, or AZP_URL (${ADO_BASE_URL}) is not an Azure DevOps organization URL (expected https://dev.azure.com/<organization>)"
      ;;
    token_expired)
      ADO_EXIT="${EXIT_AUTH}"
      ADO_PROBLEM="${credential} has expired (HTTP 401 while ${what}; Azure DevOps says: ${ADO_SERVICE_ERROR:-${ADO_MESSAGE}}); ${renew}"
      ;;
    auth_denied)
      ADO_EXIT="${EXIT_AUTH}"
      ADO_PROBLEM="Azure DevOps denied access while ${what} (HTTP 401; Azure DevOps says: ${ADO_SERVICE_ERROR}); check that ${credential} belongs to this organization: ${fix}"
      ;;
    token_invalid)
      ADO_EXIT="${EXIT_AUTH}"
      ADO_PROBLEM="Azure DevOps rejected ${credential} as invalid (HTTP 401 while ${what}${detail}): the token is wrong, revoked or for another organization; ${renew}"
      ;;
    forbidden)
      ADO_EXIT="${EXIT_AUTH}"
      ADO_PROBLEM="Azure DevOps refused ${what} (HTTP 403${detail}): ${credential} needs the Agent Pools (Read & manage) scope or the Administrator role in the pool"
      ;;
    not_found)
      ADO_EXIT="${EXIT_REJECTED}"
      ADO_PROBLEM="Azure DevOps found nothing while ${what} (HTTP 404${detail}); check AZP_URL (${ADO_BASE_URL}): it must be the organization URL"
      ;;
    busy)
      ADO_EXIT="${EXIT_REJECTED}"
      ADO_PROBLEM="the agent is still running a job${detail}"
      ;;
    bad_response)
      ADO_EXIT="${EXIT_REJECTED}"
      ADO_PROBLEM="Azure DevOps answered ${what} with HTTP ${ADO_STATUS} and Content-Type '${ADO_CONTENT_TYPE:-none}', which is not JSON: is AZP_URL (${ADO_BASE_URL}) an Azure DevOps organization URL?"
      ;;
    *)
      ADO_EXIT="${EXIT_REJECTED}"
      ADO_PROBLEM="Azure DevOps refused ${what} (HTTP ${ADO_STATUS}${ADO_TYPE_KEY:+ ${ADO_TYPE_KEY}}${detail})"
      ;;
  esac
}

# ado_fail <what was being done>: dies with the message and exit code of the last answer.
ado_fail() {
  ado_problem "$1"
  die "${ADO_EXIT}" "${ADO_PROBLEM}"
}

# ado_check_connection <attempts>: GET connectionData (the cheapest authenticated call,
# ado-contract.md §3.1); dies with a classified message unless the PAT is accepted.
ado_check_connection() {
  ado_request_retry "$1" GET "$(ado_url connectionData "connectionData?connectOptions=0&lastChangeId=-1&lastChangeId64=-1")"
  [[ "${ADO_CLASS}" == ok && "${ADO_JSON_OK}" == 1 ]] || ado_fail "checking the connection (GET _apis/connectionData)"
}

# ado_find_pool <attempts> <pool name> <out var for the id>: dies when the pool is missing.
# A missing pool is `200 {"count":0}`, not 404 (ado-contract.md §3.5); the PAT may also
# simply not be allowed to see it. Only agent (automation) pools: a deployment pool of the same
# name is never taken for the agents' pool.
ado_find_pool() {
  local attempts="$1" pool="$2"
  local -n _pool_id="$3"
  ado_request_retry "${attempts}" GET \
    "$(ado_url pools "distributedtask/pools?poolName=$(ado_uri_component "${pool}")&poolType=Automation")"
  [[ "${ADO_CLASS}" == ok ]] || ado_fail "looking up agent pool '${pool}' (GET _apis/distributedtask/pools)"
  local id
  id="$(jq -r --arg name "${pool}" \
    '[.value[]? | select((.name | ascii_downcase) == ($name | ascii_downcase)) | .id][0] // empty' \
    <<<"${ADO_BODY}" 2>/dev/null)" || id=""
  if [[ ! "${id}" =~ ^[0-9]+$ ]]; then
    die "${EXIT_REJECTED}" "agent pool '${pool}' (AZP_POOL) was not found in ${ADO_BASE_URL}: create it under Organization settings > Agent pools, and make sure the PAT has the Agent Pools (Read & manage) scope (without it the pool is invisible)"
  fi
  _pool_id="${id}"
}

# ado_warn_auto_update <pool name>: after ado_find_pool. The Azure Pipelines agent has no
# configure flag that turns self-update off (`--disableupdate` is GitHub's runner, the agent
# rejects it as an unrecognized argument); the pool's "Allow agents in this pool to automatically
# update" setting (autoUpdate) is what decides. Say so when it is on.
ado_warn_auto_update() {
  local pool="$1"
  if jq -e --arg name "${pool}" \
    '[.value[]? | select((.name | ascii_downcase) == ($name | ascii_downcase))][0].autoUpdate == true' \
    <<<"${ADO_BODY}" >/dev/null 2>&1; then
    log_warn "pool '${pool}' lets agents update themselves (autoUpdate): an agent may replace the image's agent ${AZP_BAKED_AGENT_VERSION} at run time; turn off 'Allow agents in this pool to automatically update' (Organization settings > Agent pools > ${pool} > Settings) to run exactly the image's version"
  fi
}
