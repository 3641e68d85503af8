# shellcheck shell=bash
# shellcheck disable=SC2034  # PLACEHOLDER_* are outputs, read by the commands that source this file
# The release's placeholder agent (autoscaling mode): registered in the pool, never connected,
# so always offline and never given a job. Azure DevOps fails a job at once when no agent of the
# pool, online or offline, satisfies its demands (keda-docs, azure-pipelines scaler: "a
# placeholder agent"); while KEDA keeps no agent pod running, this agent is what lets the
# release's jobs queue until KEDA starts a pod for them. It carries exactly what the chart offers
# KEDA as demands, so that what it lets queue KEDA also scales for: AZP_RELEASE, the user
# capabilities (agent.capabilities) and the contract's AZP_PLACEHOLDER_SYSTEM_CAPABILITIES
# (Agent.OS); plus Agent.Version, which every job demands and KEDA ignores.
# It never takes over an agent of its name that belongs to another release.
# Its public key belongs to a key pair whose private half is thrown away at once: nobody can ever
# connect as this agent.
#
# Used by azp-placeholder (the chart's install/upgrade/uninstall hooks) and azp-gc (re-creates it
# when someone deleted it). Needs common.sh and ado.sh, ado_init done and the PAT loaded.
# The callers read AZP_PLACEHOLDER_AGENT, AZP_PLACEHOLDER_CAPABILITIES and AZP_RELEASE.

PLACEHOLDER_ID=""          # the placeholder's agent id once found or created
PLACEHOLDER_CHANGED=""     # created | updated | unchanged | removed | absent

# placeholder_settings <name out> <capabilities json out> <AZP_PLACEHOLDER_AGENT>
#   <AZP_PLACEHOLDER_CAPABILITIES>: validated settings (the commands read the variables).
placeholder_settings() {
  local -n _ph_name="$1" _ph_caps="$2"
  setting_name _ph_name AZP_PLACEHOLDER_AGENT "$3" "the placeholder agent's name (the chart sets it)"
  local _ph_value="$4"
  [[ -n "${_ph_value}" ]] || _ph_value="{}"
  jq -e 'type == "object" and ([.[] | type == "string"] | all)' <<<"${_ph_value}" >/dev/null 2>&1 \
    || die "${EXIT_SETTINGS}" "AZP_PLACEHOLDER_CAPABILITIES must be a JSON object of strings (the chart sets it from agent.capabilities)"
  _ph_caps="${_ph_value}"
}

# placeholder_capabilities <release> <user capabilities json>: the systemCapabilities object.
placeholder_capabilities() {
  jq -cn --arg release "$1" --argjson user "$2" --argjson system "${AZP_PLACEHOLDER_SYSTEM_CAPABILITIES}" \
    --arg agent "${AZP_BAKED_AGENT_VERSION}" '$user + $system + {"Agent.Version": $agent, "AZP_RELEASE": $release}'
}

# placeholder_public_key: {"exponent":…, "modulus":…} (base64) of a fresh RSA key whose private
# half never leaves this function's pipe.
placeholder_public_key() {
  local modulus
  # genrsa's public exponent is 65537 (AQAB); only the modulus varies.
  modulus="$(openssl genrsa 2048 2>/dev/null | openssl rsa -noout -modulus 2>/dev/null)" \
    || die "${EXIT_FAILURE}" "openssl could not make the placeholder's key pair"
  modulus="${modulus#Modulus=}"
  [[ "${modulus}" =~ ^[0-9A-F]{512}$ ]] || die "${EXIT_FAILURE}" "openssl printed an unexpected modulus for the placeholder's key"
  jq -cn --arg modulus "$(perl -e 'print pack("H*", $ARGV[0])' "${modulus}" | base64 -w0)" \
    '{exponent: "AQAB", modulus: $modulus}'
}

# placeholder_find <attempts> <pool id> <name> <release>: sets PLACEHOLDER_ID (empty: none) and
# PLACEHOLDER_CURRENT (its systemCapabilities as compact JSON). Dies when an agent of that name
# belongs to another release (its AZP_RELEASE capability): it is never taken over or removed.
PLACEHOLDER_CURRENT=""
placeholder_find() {
  local attempts="$1" pool_id="$2" name="$3" release="$4"
  ado_request_retry "${attempts}" GET \
    "$(ado_url agents "distributedtask/pools/${pool_id}/agents?agentName=$(ado_uri_component "${name}")&includeCapabilities=true")"
  [[ "${ADO_CLASS}" == ok && "${ADO_JSON_OK}" == 1 ]] || ado_fail "looking up the placeholder agent '${name}' in pool ${pool_id}"
  local fields id current
  # shellcheck disable=SC2016  # jq, not shell
  fields="$(jq -r --arg name "${name}" "${COMMON_JQ_FIELDS}"'
    [.value[]? | select((.name | ascii_downcase) == ($name | ascii_downcase))][0] // empty
    | [.id, ((.systemCapabilities // {}) | tojson)] | fields' <<<"${ADO_BODY}" 2>/dev/null)" || fields=""
  IFS=$'\x1f' read -r id current <<<"${fields}" || true
  [[ -z "${id}" || "${id}" =~ ^[0-9]+$ ]] || die "${EXIT_REJECTED}" "Azure DevOps answered a non-numeric id for agent '${name}'"
  if [[ -n "${id}" ]] && ! jq -e --arg release "${release}" '.AZP_RELEASE == $release' <<<"${current:-null}" >/dev/null 2>&1; then
    die "${EXIT_REJECTED}" "pool ${pool_id} has an agent named '${name}' (${id}) that is not the placeholder of release '${release}' (its AZP_RELEASE capability differs): it is left alone; remove or rename it, or change the release's name"
  fi
  PLACEHOLDER_ID="${id}"
  PLACEHOLDER_CURRENT="${current}"
}

# placeholder_ensure <attempts> <pool id> <name> <release> <user capabilities json>: creates the
# placeholder, or replaces it when its capabilities differ (an upgrade changed them).
placeholder_ensure() {
  local attempts="$1" pool_id="$2" name="$3" release="$4" user="$5"
  local wanted
  wanted="$(placeholder_capabilities "${release}" "${user}")"
  placeholder_find "${attempts}" "${pool_id}" "${name}" "${release}"
  if [[ -n "${PLACEHOLDER_ID}" ]] && jq -en --argjson a "${wanted}" --argjson b "${PLACEHOLDER_CURRENT:-null}" '$a == $b' >/dev/null 2>&1; then
    PLACEHOLDER_CHANGED=unchanged
    return 0
  fi
  local body key
  key="$(placeholder_public_key)"
  body="$(jq -cn --arg name "${name}" --arg version "${AZP_BAKED_AGENT_VERSION}" --argjson caps "${wanted}" --argjson key "${key}" '
    {name: $name, version: $version, osDescription: "placeholder of an azp-agent release: never runs jobs",
     enabled: true, provisioningState: "Provisioned", maxParallelism: 1,
     systemCapabilities: $caps, authorization: {publicKey: $key}}')"
  if [[ -z "${PLACEHOLDER_ID}" ]]; then
    ado_request_retry "${attempts}" POST "$(ado_url agents "distributedtask/pools/${pool_id}/agents")" "${body}"
    [[ "${ADO_CLASS}" == ok && "${ADO_JSON_OK}" == 1 ]] || ado_fail "registering the placeholder agent '${name}' in pool ${pool_id}"
    PLACEHOLDER_CHANGED=created
  else
    body="$(jq -c --argjson id "${PLACEHOLDER_ID}" '. + {id: $id}' <<<"${body}")"
    ado_request_retry "${attempts}" PUT "$(ado_url agents "distributedtask/pools/${pool_id}/agents/${PLACEHOLDER_ID}")" "${body}"
    [[ "${ADO_CLASS}" == ok && "${ADO_JSON_OK}" == 1 ]] || ado_fail "updating the placeholder agent '${name}' (${PLACEHOLDER_ID}) in pool ${pool_id}"
    PLACEHOLDER_CHANGED=updated
  fi
  local id
  id="$(jq -r '.id // empty' <<<"${ADO_BODY}" 2>/dev/null)" || id=""
  [[ "${id}" =~ ^[0-9]+$ ]] || die "${EXIT_REJECTED}" "Azure DevOps answered the placeholder's registration without an agent id"
  PLACEHOLDER_ID="${id}"
}

# placeholder_remove <attempts> <pool id> <name> <release>
placeholder_remove() {
  local attempts="$1" pool_id="$2" name="$3" release="$4"
  placeholder_find "${attempts}" "${pool_id}" "${name}" "${release}"
  if [[ -z "${PLACEHOLDER_ID}" ]]; then
    PLACEHOLDER_CHANGED=absent
    return 0
  fi
  ado_request_retry "${attempts}" DELETE "$(ado_url agents "distributedtask/pools/${pool_id}/agents/${PLACEHOLDER_ID}")"
  case "${ADO_CLASS}" in
    ok | not_found) PLACEHOLDER_CHANGED=removed ;;
    *) ado_fail "removing the placeholder agent '${name}' (${PLACEHOLDER_ID}) from pool ${pool_id}" ;;
  esac
}
