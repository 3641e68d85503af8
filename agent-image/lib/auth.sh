# shellcheck shell=bash
#
# The credential every command presents to Azure DevOps (`azp.auth`, issue #10):
#
#   pat               the PAT from the mounted Secret (AZP_TOKEN_FILE), sent as Basic password.
#   servicePrincipal  a Microsoft Entra access token for Azure DevOps, from the client-credentials
#                     flow with the client secret from the mounted Secret (AZP_TOKEN_FILE).
#   workloadIdentity  the same flow with the pod's projected service-account token as client
#                     assertion (AZURE_FEDERATED_TOKEN_FILE, refreshed by the kubelet): no secret.
#
# An Entra token is sent as Bearer token (REST) and given to config.sh in place of a PAT; the
# agent then runs with its own per-registration credential, as with a PAT. Entra tokens live
# about an hour: `token_fresh` gets a new one before a request once the one held is within
# AUTH_REFRESH_MARGIN seconds of its expiry (or past half its lifetime, for short-lived tokens),
# so a removal after a long job never presents an expired token.
#
# The secret, the federated token and the access token stay in this shell's memory: they
# reach curl, jq and config.sh through pipes or one child's environment, never argv, files or
# logs. Sourced by common.sh; functions are prefixed token_, auth_ and entra_.

if [[ -n "${AUTH_SH_LOADED:-}" ]]; then
  return 0
fi
readonly AUTH_SH_LOADED=1

# Seconds before its expiry an Entra token is replaced.
readonly AUTH_REFRESH_MARGIN=300
# Seconds between two attempts to renew an Entra token after one failed.
readonly AUTH_RENEW_BACKOFF=30
readonly ENTRA_CONNECT_TIMEOUT=10
readonly ENTRA_MAX_TIME=30
readonly ENTRA_ATTEMPTS=4

# The credential, once token_load has run. Kept in this shell's memory only.
COMMON_TOKEN=""
COMMON_TOKEN_ERROR=""
# Exit code for COMMON_TOKEN_ERROR: EXIT_SETTINGS (a file or setting), EXIT_AUTH (refused),
# EXIT_UNREACHABLE (Entra not reachable).
COMMON_TOKEN_EXIT=0

AUTH_MODE="pat"
AUTH_TENANT=""
AUTH_CLIENT=""
AUTH_AUTHORITY=""
AUTH_FEDERATED_FILE=""
# Epoch seconds after which COMMON_TOKEN is renewed before use (Entra modes; 0 = none held).
AUTH_RENEW_AT=0
# What token_try_load was last called with, for token_fresh.
AUTH_SETTING=""
AUTH_FILE=""

# auth_configure <AZP_AUTH> <AZURE_TENANT_ID> <AZURE_CLIENT_ID> <AZURE_AUTHORITY_HOST> <AZURE_FEDERATED_TOKEN_FILE>:
# the commands pass their variables (read with their literal names); dies on a bad setting.
auth_configure() {
  local mode="${1:-pat}" tenant="$2" client="$3" authority="$4" federated="$5"
  local known=" ${AZP_AUTH_MODES} "
  if [[ "${known}" != *" ${mode} "* ]]; then
    local shown
    text_safe shown "${mode}" 40
    die "${EXIT_SETTINGS}" "AZP_AUTH is '${shown}'; expected one of: ${AZP_AUTH_MODES// /, } (the chart's azp.auth)"
  fi
  AUTH_MODE="${mode}"
  [[ "${mode}" != pat ]] || return 0
  [[ "${tenant}" =~ ^[A-Za-z0-9][-A-Za-z0-9.]*$ ]] \
    || die "${EXIT_SETTINGS}" "AZURE_TENANT_ID must be the directory (tenant) id or domain with AZP_AUTH=${mode} (the chart's azp.entra.tenantId)"
  [[ "${client}" =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]] \
    || die "${EXIT_SETTINGS}" "AZURE_CLIENT_ID must be the application (client) id, a GUID, with AZP_AUTH=${mode} (the chart's azp.entra.clientId)"
  authority="${authority:-${AZP_ENTRA_AUTHORITY_HOST_DEFAULT}}"
  [[ "${authority}" =~ ^https://[^[:space:]/?#]+(/[^[:space:]?#]*)?$ ]] \
    || die "${EXIT_SETTINGS}" "AZURE_AUTHORITY_HOST must be an https URL, e.g. ${AZP_ENTRA_AUTHORITY_HOST_DEFAULT} (the chart's azp.entra.authorityHost)"
  AUTH_TENANT="${tenant}"
  AUTH_CLIENT="${client}"
  AUTH_AUTHORITY="${authority%/}"
  if [[ "${mode}" == workloadIdentity ]]; then
    setting_abs_path AUTH_FEDERATED_FILE AZURE_FEDERATED_TOKEN_FILE "${federated}" "${AZP_FEDERATED_TOKEN_FILE_DEFAULT}"
  fi
}

# auth_describe: which identity the command uses, for its log (no secret in it).
auth_describe() {
  case "${AUTH_MODE}" in
    pat) printf 'a personal access token (AZP_AUTH=pat)\n' ;;
    servicePrincipal) printf 'the service principal %s of tenant %s with its client secret (AZP_AUTH=servicePrincipal)\n' "${AUTH_CLIENT}" "${AUTH_TENANT}" ;;
    workloadIdentity) printf 'the workload identity %s of tenant %s, through this pod'"'"'s federated token (AZP_AUTH=workloadIdentity)\n' "${AUTH_CLIENT}" "${AUTH_TENANT}" ;;
  esac
}

# auth_credential_name: what the user must fix when Azure DevOps refuses the credential.
auth_credential_name() {
  case "${AUTH_MODE}" in
    pat) printf 'the PAT in AZP_TOKEN_FILE\n' ;;
    *) printf 'the Entra token of %s (tenant %s)\n' "${AUTH_CLIENT}" "${AUTH_TENANT}" ;;
  esac
}

# token_read_file <out var> <name of the setting> <file> <what it holds> <what provides it>:
# reads a credential file, whitespace removed; on failure sets COMMON_TOKEN_ERROR and returns 1.
token_read_file() {
  local -n _content="$1"
  local name="$2" file="$3" what="$4" holder="$5" text=""
  if [[ ! -e "${file}" ]]; then
    COMMON_TOKEN_ERROR="${name}: ${file} does not exist; mount ${holder} holding ${what} there (or point ${name} at it)"
  elif [[ ! -f "${file}" || ! -r "${file}" ]]; then
    COMMON_TOKEN_ERROR="${name}: ${file} is not a readable file for uid $(id -u); check the volume's defaultMode and the pod's fsGroup"
  else
    IFS= read -r -d '' text <"${file}" || true
    # PATs, client secrets and JWTs have no whitespace: a newline from `echo` is noise.
    text="${text//[[:space:]]/}"
    [[ -n "${text}" ]] || COMMON_TOKEN_ERROR="${name}: ${file} is empty; put ${what} into ${holder}"
  fi
  [[ -z "${COMMON_TOKEN_ERROR}" ]] || return 1
  _content="${text}"
}

# token_try_load <name of the setting> <file>: sets COMMON_TOKEN to the credential of AUTH_MODE
# (for the Entra modes, a new access token); on failure sets COMMON_TOKEN_ERROR and
# COMMON_TOKEN_EXIT and returns 1. Called again before every attempt that may follow a Secret
# rotation, and by token_fresh.
token_try_load() {
  local name="$1" file="$2" credential=""
  COMMON_TOKEN_ERROR=""
  COMMON_TOKEN_EXIT="${EXIT_SETTINGS}"
  AUTH_SETTING="${name}"
  AUTH_FILE="${file}"
  case "${AUTH_MODE}" in
    pat)
      token_read_file credential "${name}" "${file}" "the PAT" "the Secret" || return 1
      COMMON_TOKEN="${credential}"
      ;;
    servicePrincipal)
      token_read_file credential "${name}" "${file}" "the client secret" "the Secret" || return 1
      entra_token client_secret "${credential}"
      ;;
    workloadIdentity)
      token_read_file credential AZURE_FEDERATED_TOKEN_FILE "${AUTH_FEDERATED_FILE}" "the service-account token" "a projected volume (the chart's azp.auth=workloadIdentity does)" || return 1
      entra_token client_assertion "${credential}"
      ;;
  esac
}

# token_load <name of the setting> <file>: token_try_load or die.
token_load() {
  token_try_load "$1" "$2" || die "${COMMON_TOKEN_EXIT}" "${COMMON_TOKEN_ERROR}"
}

# token_fresh: before a request: a new Entra token when the one held expires soon. A failure
# is logged and the old token used (the request then shows what Azure DevOps says); the next
# attempt waits AUTH_RENEW_BACKOFF seconds, so a failing Entra is not asked on every request.
token_fresh() {
  [[ "${AUTH_MODE}" != pat && -n "${AUTH_SETTING}" ]] || return 0
  ((EPOCHSECONDS < AUTH_RENEW_AT)) && return 0
  if ! token_try_load "${AUTH_SETTING}" "${AUTH_FILE}"; then
    log_warn "could not renew the Entra token (next attempt in ${AUTH_RENEW_BACKOFF}s): ${COMMON_TOKEN_ERROR}"
    AUTH_RENEW_AT=$((EPOCHSECONDS + AUTH_RENEW_BACKOFF))
  fi
}

# token_reload <name of the setting> <file>: before a retried attempt: the PAT read again (the
# Secret may have been rotated), or, in the Entra modes, a new token only if the held one is due.
token_reload() {
  if [[ "${AUTH_MODE}" == pat ]]; then
    token_try_load "$1" "$2"
  else
    token_fresh
  fi
}

# token_auth_header: the Authorization header line for curl's config syntax (`curl -K -`).
# A PAT goes as Basic password (Azure DevOps ignores the user name, ado-contract.md §1.2); an
# Entra access token as Bearer token.
token_auth_header() {
  if [[ "${AUTH_MODE}" == pat ]]; then
    local encoded
    encoded="$(printf ':%s' "${COMMON_TOKEN}" | base64 -w0)"
    printf 'header = "Authorization: Basic %s"\n' "${encoded}"
  else
    printf 'header = "Authorization: Bearer %s"\n' "${COMMON_TOKEN}"
  fi
}

# entra_form_value <out var> <text>: percent-encodes a form value read from a pipe (the value
# never reaches an argv).
entra_form_value() {
  local -n _encoded="$1"
  _encoded="$(printf '%s' "$2" | jq -sRr '@uri')"
}

# entra_token <client_secret|client_assertion> <credential>: the client-credentials flow at
# <authority>/<tenant>/oauth2/v2.0/token for Azure DevOps' `.default` scope. Sets COMMON_TOKEN
# and AUTH_RENEW_AT, or COMMON_TOKEN_ERROR / COMMON_TOKEN_EXIT (retries no answer and 5xx).
entra_token() {
  local kind="$1" credential="$2" encoded client scope body
  entra_form_value client "${AUTH_CLIENT}"
  entra_form_value scope "${AZP_ENTRA_RESOURCE}/.default"
  if [[ "${kind}" == client_secret ]]; then
    entra_form_value encoded "${credential}"
    body="grant_type=client_credentials&client_id=${client}&scope=${scope}&client_secret=${encoded}"
  else
    # A JWT is base64url text: nothing to encode.
    [[ "${credential}" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$ ]] || {
      COMMON_TOKEN_ERROR="AZURE_FEDERATED_TOKEN_FILE: ${AUTH_FEDERATED_FILE} does not hold a JWT; it must be a projected service-account token"
      COMMON_TOKEN_EXIT="${EXIT_SETTINGS}"
      return 1
    }
    body="grant_type=client_credentials&client_id=${client}&scope=${scope}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${credential}"
  fi
  local url="${AUTH_AUTHORITY}/${AUTH_TENANT}/oauth2/v2.0/token"
  local attempt=0 raw status curl_error answer
  while :; do
    attempt=$((attempt + 1))
    raw="$(printf '%s' "${body}" | curl --disable --silent --show-error --request POST --url "${url}" \
      --header "Content-Type: application/x-www-form-urlencoded" --header "Accept: application/json" \
      --user-agent "azp-agent-image/${AZP_IMAGE_VERSION}" \
      --connect-timeout "${ENTRA_CONNECT_TIMEOUT}" --max-time "${ENTRA_MAX_TIME}" \
      --data-binary @- --write-out '\n%{http_code}\t%{errormsg}' 2>/dev/null)" || true
    answer="${raw%$'\n'*}"
    IFS=$'\t' read -r status curl_error <<<"${raw##*$'\n'}" || true
    [[ "${status}" =~ ^[0-9]{3}$ ]] || status="000"
    if [[ "${status}" == 200 ]]; then
      entra_accept "${answer}" "${url}" && return 0
      return 1
    fi
    if [[ "${status}" == 000 || "${status}" == 5?? || "${status}" == 429 ]] && ((attempt < ENTRA_ATTEMPTS)); then
      local delay
      delay="$(retry_delay "${attempt}")"
      log_warn "Microsoft Entra at ${AUTH_AUTHORITY} did not issue a token (attempt ${attempt}/${ENTRA_ATTEMPTS}, HTTP ${status}); retrying in ${delay}s"
      retry_sleep "${delay}"
      continue
    fi
    entra_problem "${status}" "${curl_error}" "${answer}" "${kind}"
    return 1
  done
}

# entra_accept <JSON answer> <url>: takes access_token and expires_in from a 200 answer, and
# when to renew it: AUTH_REFRESH_MARGIN before it expires, or at half its lifetime if sooner.
entra_accept() {
  local parsed token expires
  if parsed="$(jq -r "${COMMON_JQ_FIELDS}"' [.access_token, .expires_in] | fields' <<<"$1" 2>/dev/null)"; then
    IFS=$'\x1f' read -r token expires <<<"${parsed}" || true
  fi
  if [[ ! "${token:-}" =~ ^[A-Za-z0-9._~+/=-]+$ || ! "${expires:-}" =~ ^[0-9]{1,9}$ ]]; then
    COMMON_TOKEN_ERROR="Microsoft Entra at $2 answered HTTP 200 without an access token and its lifetime: is AZURE_AUTHORITY_HOST (${AUTH_AUTHORITY}) an Entra authority?"
    COMMON_TOKEN_EXIT="${EXIT_AUTH}"
    return 1
  fi
  COMMON_TOKEN="${token}"
  expires=$((10#${expires}))
  local keep=$((expires - AUTH_REFRESH_MARGIN))
  ((keep >= expires / 2)) || keep=$((expires / 2))
  AUTH_RENEW_AT=$((EPOCHSECONDS + keep))
}

# entra_claims: issuer, subject and audience of the pod's federated token, for a message that
# says which federated credential the identity lacks. The kubelet wrote the file, no job can.
entra_claims() {
  local payload token=""
  token_read_file token AZURE_FEDERATED_TOKEN_FILE "${AUTH_FEDERATED_FILE}" "the token" "a volume" || return 0
  payload="${token#*.}"
  payload="${payload%%.*}"
  payload="${payload//-/+}"
  payload="${payload//_//}"
  while ((${#payload} % 4)); do payload+="="; done
  local claims
  claims="$(printf '%s' "${payload}" | base64 -d 2>/dev/null | jq -r "${COMMON_JQ_FIELDS}"' [.iss, .sub, (.aud | if type == "array" then join(",") else . end)] | fields' 2>/dev/null)" || return 0
  local iss sub aud
  IFS=$'\x1f' read -r iss sub aud <<<"${claims}" || true
  text_safe iss "${iss}" 200
  text_safe sub "${sub}" 200
  text_safe aud "${aud}" 200
  printf 'issuer %s, subject %s, audience %s' "${iss}" "${sub}" "${aud}"
}

# entra_problem <status> <curl error> <answer> <client_secret|client_assertion>: COMMON_TOKEN_ERROR
# for a refused or failed token request, naming the setting to fix. Entra's error codes:
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes
entra_problem() {
  local status="$1" curl_error="$2" answer="$3" kind="$4"
  COMMON_TOKEN_EXIT="${EXIT_AUTH}"
  if [[ "${status}" == 000 ]]; then
    COMMON_TOKEN_EXIT="${EXIT_UNREACHABLE}"
    text_safe curl_error "${curl_error:-no answer}" 200
    COMMON_TOKEN_ERROR="cannot reach Microsoft Entra at ${AUTH_AUTHORITY} (after ${ENTRA_ATTEMPTS} attempts: ${curl_error}); check AZURE_AUTHORITY_HOST (azp.entra.authorityHost), DNS, proxy and egress network policy"
    return 0
  fi
  if [[ "${status}" == 5?? || "${status}" == 429 ]]; then
    COMMON_TOKEN_EXIT="${EXIT_UNREACHABLE}"
    COMMON_TOKEN_ERROR="Microsoft Entra at ${AUTH_AUTHORITY} failed to issue a token (HTTP ${status} after ${ENTRA_ATTEMPTS} attempts); try again later"
    return 0
  fi
  local parsed error="" code="" description=""
  if parsed="$(jq -r "${COMMON_JQ_FIELDS}"' [.error, (.error_codes // [] | first), .error_description] | fields' <<<"${answer}" 2>/dev/null)"; then
    IFS=$'\x1f' read -r error code description <<<"${parsed}" || true
  fi
  text_safe error "${error}" 60
  [[ "${code}" =~ ^[0-9]{1,9}$ ]] || code=""
  # The first sentence of the description is the reason; the rest is trace and correlation ids.
  description="${description%%. Trace ID*}"
  text_safe description "${description}" 300
  local who="client ${AUTH_CLIENT} of tenant ${AUTH_TENANT}"
  case "${code}" in
    90002)
      COMMON_TOKEN_ERROR="Microsoft Entra does not know the tenant ${AUTH_TENANT} (AADSTS90002): check AZURE_TENANT_ID (azp.entra.tenantId)" ;;
    700016)
      COMMON_TOKEN_ERROR="Microsoft Entra found no application ${AUTH_CLIENT} in tenant ${AUTH_TENANT} (AADSTS700016): check AZURE_CLIENT_ID and AZURE_TENANT_ID (azp.entra.clientId, azp.entra.tenantId)" ;;
    7000215)
      COMMON_TOKEN_ERROR="Microsoft Entra refused the client secret of ${who} (AADSTS7000215: invalid secret): put the secret's value (not its id) into the Secret (azp.entra.clientSecret or azp.entra.existingSecret)" ;;
    7000222)
      COMMON_TOKEN_ERROR="the client secret of ${who} has expired (AADSTS7000222): create a new one and update the Secret (azp.entra.clientSecret or azp.entra.existingSecret)" ;;
    70021 | 700211 | 700212 | 700213)
      COMMON_TOKEN_ERROR="Microsoft Entra found no federated credential of ${who} matching this pod's token (AADSTS${code}; the token has $(entra_claims)): add a federated credential with that issuer, subject and audience, or set azp.entra.audience to the audience it has" ;;
    700024)
      COMMON_TOKEN_ERROR="Microsoft Entra refused this pod's federated token as outside its validity (AADSTS700024): check the node's clock; the kubelet renews the token" ;;
    *)
      local what="the client secret"
      [[ "${kind}" == client_secret ]] || what="this pod's federated token"
      COMMON_TOKEN_ERROR="Microsoft Entra refused a token for ${who} with ${what} (HTTP ${status}, ${error:-no error}${code:+, AADSTS${code}}${description:+: ${description}})" ;;
  esac
}
