# shellcheck shell=bash
#
# Shared helpers of the image's commands: the contract, logging, exit codes, settings
# validation, retries and the lifecycle markers in the `state` volume (credentials: auth.sh).
# Sourced by agent-image/bin/azp-* (and by the image tests); never executed.
#
# Naming: functions are prefixed by the file that defines them (log_, setting_, token_,
# retry_, state_); globals of this file start with COMMON_. Environment variables are read
# only in the commands, with their literal contract names, so a sync test can compare them.

if [[ -n "${COMMON_SH_LOADED:-}" ]]; then
  return 0
fi
readonly COMMON_SH_LOADED=1

# The library sits next to the contract in the image (<root>/contract.sh, <root>/lib) and in
# the source tree (<root>/generated/contract.sh, <root>/lib): accept both layouts.
COMMON_ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd -P)"
readonly COMMON_ROOT
if [[ -f "${COMMON_ROOT}/contract.sh" ]]; then
  # shellcheck source=../generated/contract.sh
  source "${COMMON_ROOT}/contract.sh"
elif [[ -f "${COMMON_ROOT}/generated/contract.sh" ]]; then
  # shellcheck source=../generated/contract.sh
  source "${COMMON_ROOT}/generated/contract.sh"
else
  printf 'azp: error: contract.sh not found under %s (run npm run generate)\n' "${COMMON_ROOT}" >&2
  exit 1
fi

# Exit codes shared by every command: EXIT_FAILURE, EXIT_SETTINGS, EXIT_UNREACHABLE, EXIT_AUTH,
# EXIT_REJECTED, EXIT_PACKAGE, EXIT_CONFIGURE, EXIT_AGENTS, readonly, from contract.sh (the
# contract's `exitCodes`; documented in agent-image/README.md).

# Upper bound of one backoff pause; the first pauses are 1, 2, 4, 8, 16 seconds.
readonly COMMON_RETRY_MAX_DELAY=30

COMMON_LOG_PREFIX="azp"

# ----------------------------------------------------------------------------- logging

# Sets the prefix of every log line to the command's name.
log_init() {
  COMMON_LOG_PREFIX="$1"
}

log_info() {
  printf '%s: %s\n' "${COMMON_LOG_PREFIX}" "$*"
}

log_warn() {
  printf '%s: warning: %s\n' "${COMMON_LOG_PREFIX}" "$*" >&2
}

log_error() {
  printf '%s: error: %s\n' "${COMMON_LOG_PREFIX}" "$*" >&2
}

# die <exit code> <message...>: the single way a command gives up.
die() {
  local code="$1"
  shift
  log_error "$*"
  exit "${code}"
}

# ERR trap installed by every command's main: names the line of an unexpected failure.
log_on_err() {
  local code="$1" line="$2" source="$3"
  log_error "unexpected failure (exit ${code}) at ${source##*/}:${line}"
}

# --------------------------------------------------------------------------- settings
# Each validator takes the variable to assign, the setting's name (for the message) and its
# value; it assigns the normalised value or dies with EXIT_SETTINGS and a message naming the
# setting. (Assigning through `printf -v` instead of printing keeps `die` in the main shell:
# inside `$(...)` it would only leave a subshell.)

# setting_required <out> <name> <value> <what it is>
setting_required() {
  local -n _out="$1"
  local _name="$2" _value="$3" _what="$4"
  [[ -n "${_value}" ]] || die "${EXIT_SETTINGS}" "${_name} is not set: ${_what}"
  _out="${_value}"
}

# setting_url <out> <name> <value>: an http(s) organization URL; trailing slashes are dropped
# (ado-contract.md §1.1: `${url}/_apis` must not become `//_apis`).
setting_url() {
  local -n _out="$1"
  local _name="$2" _value="$3"
  [[ -n "${_value}" ]] \
    || die "${EXIT_SETTINGS}" "${_name} is not set: the Azure DevOps organization URL, e.g. https://dev.azure.com/<organization>"
  if [[ ! "${_value}" =~ ^https?://[^/[:space:]?#]+(/[^[:space:]?#]*)?$ ]]; then
    die "${EXIT_SETTINGS}" "${_name} must be an http(s) URL without query or spaces, e.g. https://dev.azure.com/<organization>; got '${_value}'"
  fi
  while [[ "${_value}" == */ ]]; do
    _value="${_value%/}"
  done
  _out="${_value}"
}

# setting_https_url <out> <name> <value>: a required https URL (downloads are never taken over
# plain http: the agent runs with the registration's credential).
setting_https_url() {
  local -n _out="$1"
  local _name="$2" _value="$3"
  [[ -n "${_value}" ]] || die "${EXIT_SETTINGS}" "${_name} is not set: the https URL of the agent package (tar.gz)"
  if [[ ! "${_value}" =~ ^https://[^/[:space:]?#]+(/[^[:space:]]*)?$ ]]; then
    local _shown
    text_safe _shown "${_value}" 200
    die "${EXIT_SETTINGS}" "${_name} must be an https URL; got '${_shown}'"
  fi
  _out="${_value}"
}

# setting_sha256 <out> <name> <value>: a required SHA-256 (hex; '-' and case ignored, as the agent does).
setting_sha256() {
  local -n _out="$1"
  local _name="$2" _value="${3//-/}"
  _value="${_value,,}"
  [[ "${_value}" =~ ^[0-9a-f]{64}$ ]] \
    || die "${EXIT_SETTINGS}" "${_name} must be the package's SHA-256 (64 hex digits): a mirror's package is verified against it"
  _out="${_value}"
}

# setting_uint <out> <name> <value> <default> <minimum>
setting_uint() {
  local -n _out="$1"
  local _name="$2" _value="$3" _default="$4" _minimum="$5"
  [[ -n "${_value}" ]] || _value="${_default}"
  if [[ ! "${_value}" =~ ^[0-9]{1,9}$ ]] || ((10#${_value} < _minimum)); then
    die "${EXIT_SETTINGS}" "${_name} must be a whole number >= ${_minimum}; got '${_value}'"
  fi
  _out="$((10#${_value}))"
}

# setting_enum <out> <name> <value> <default> <allowed...>
setting_enum() {
  local -n _out="$1"
  local _name="$2" _value="$3" _default="$4"
  shift 4
  [[ -n "${_value}" ]] || _value="${_default}"
  local _allowed
  for _allowed in "$@"; do
    if [[ "${_value}" == "${_allowed}" ]]; then
      _out="${_value}"
      return 0
    fi
  done
  die "${EXIT_SETTINGS}" "${_name} must be one of: $*; got '${_value}'"
}

# setting_abs_path <out> <name> <value> <default>
setting_abs_path() {
  local -n _out="$1"
  local _name="$2" _value="$3" _default="$4"
  [[ -n "${_value}" ]] || _value="${_default}"
  [[ "${_value}" == /* ]] || die "${EXIT_SETTINGS}" "${_name} must be an absolute path; got '${_value}'"
  _out="${_value}"
}

# setting_name <out> <name> <value> <what>: an agent, pool or Kubernetes object name. These
# end up in URLs and in the agent's files: refuse characters that have no business there
# rather than escaping them everywhere.
setting_name() {
  local -n _out="$1"
  local _name="$2" _value="$3" _what="$4"
  [[ -n "${_value}" ]] || die "${EXIT_SETTINGS}" "${_name} is not set: ${_what}"
  if [[ ! "${_value}" =~ ^[A-Za-z0-9][A-Za-z0-9._\ -]*$ ]] || ((${#_value} > 253)); then
    die "${EXIT_SETTINGS}" "${_name} may contain only letters, digits, '.', '_', '-' and spaces (at most 253 characters); got '${_value}'"
  fi
  _out="${_value}"
}

# setting_release <out> <name> <value>: `<namespace>/<release fullname>`, or empty. Both parts
# are Kubernetes names (lower case, digits, '-', '.'), so the value is also a safe capability.
setting_release() {
  local -n _out="$1"
  local _name="$2" _value="$3"
  local _part='[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?'
  if [[ -n "${_value}" && ! "${_value}" =~ ^${_part}/${_part}$ ]]; then
    die "${EXIT_SETTINGS}" "${_name} must be '<namespace>/<release fullname>' (the chart sets it); got '${_value}'"
  fi
  _out="${_value}"
}

# ---------------------------------------------------------------------------- retries

# retry_delay <attempt>: seconds to wait after failed attempt N (1-based): 1, 2, 4, ... capped.
retry_delay() {
  local attempt="$1" delay=1
  while ((attempt > 1 && delay < COMMON_RETRY_MAX_DELAY)); do
    delay=$((delay * 2))
    attempt=$((attempt - 1))
  done
  ((delay > COMMON_RETRY_MAX_DELAY)) && delay="${COMMON_RETRY_MAX_DELAY}"
  printf '%s\n' "${delay}"
}

# retry_sleep <seconds>: the full pause, during which traps still run at once (bash runs a
# trap only between commands; `wait` returns for it, a foreground `sleep` would not).
retry_sleep() {
  local pid
  sleep "$1" &
  pid=$!
  while kill -0 "${pid}" 2>/dev/null; do
    wait "${pid}" || true
  done
}

# ---------------------------------------------------------------------------- SIGTERM

# A command that must outlive SIGTERM for a while traps TERM/INT with a handler that calls
# term_note, and waits with pause_unless_term.
TERM_RECEIVED=0
COMMON_PAUSE_PID=""

# term_note: from the TERM/INT handler: records the signal and cuts a running pause short.
term_note() {
  TERM_RECEIVED=1
  [[ -z "${COMMON_PAUSE_PID}" ]] || kill -TERM "${COMMON_PAUSE_PID}" 2>/dev/null || true
}

# pause_unless_term <seconds>: sleeps; returns at once if SIGTERM has arrived or arrives.
# Bash runs a trap between commands, so the signal can land at any point of this function:
# before the sleep's pid is recorded the flag check sees it, afterwards the handler kills the
# sleep (a plain `sleep & pid=$!; wait $pid` loses a signal that lands between the two).
pause_unless_term() {
  sleep "$1" &
  COMMON_PAUSE_PID=$!
  if ((TERM_RECEIVED == 0)); then
    wait "${COMMON_PAUSE_PID}" || true
  fi
  if ((TERM_RECEIVED)); then
    kill -TERM "${COMMON_PAUSE_PID}" 2>/dev/null || true
    wait "${COMMON_PAUSE_PID}" 2>/dev/null || true
  fi
  COMMON_PAUSE_PID=""
}

# -------------------------------------------------------------------- lifecycle hints
# The `state` volume is shared with the job container, so everything in it is the job's to
# create, delete or replace — with a symlink or a FIFO, too. Hints are therefore only ever
# created, removed and tested for presence: never opened, read, followed or logged. Decisions
# are taken on what Azure DevOps and the Kubernetes API say, a hint only says "look now".

# state_path <file name from the contract>
state_path() {
  printf '%s/%s\n' "${AZP_PATH_STATE}" "$1"
}

# state_require_dir: the `state` volume must be mounted and writable.
state_require_dir() {
  [[ -d "${AZP_PATH_STATE}" && -w "${AZP_PATH_STATE}" ]] \
    || die "${EXIT_SETTINGS}" "${AZP_PATH_STATE} is not a writable directory; mount the 'state' volume there"
}

# hint_set <file name>: creates the hint. mktemp creates a new file exclusively (it never follows a
# link planted at its path) and rename(2) replaces whatever is at the hint's path without
# following it either. Failing to set a hint (the job put a directory there) is not an error.
hint_set() {
  local tmp
  tmp="$(mktemp -p "${AZP_PATH_STATE}" ".hint.XXXXXX" 2>/dev/null)" || return 0
  mv -fT -- "${tmp}" "$(state_path "$1")" 2>/dev/null || rm -f -- "${tmp}"
}

# hint_clear <file name>: unlink (a symlink is removed, not followed).
hint_clear() {
  rm -f -- "$(state_path "$1")" 2>/dev/null || true
}

# hint_present <file name>: lstat only (`-L` for a link, `-e` for the rest); stat never opens, so a FIFO cannot block it.
hint_present() {
  local path
  path="$(state_path "$1")"
  [[ -L "${path}" || -e "${path}" ]]
}

# ------------------------------------------------------------------------ untrusted text

# text_safe <out var> <text> [max chars]: data from the network (Azure DevOps, a proxy) made fit
# for one log line: control characters (newlines, escape sequences) become spaces, and the text
# is cut at `max` characters (default 300). Never print such data with `printf %b` or as a format.
text_safe() {
  local -n _safe="$1"
  local _text="$2" _max="${3:-300}"
  _text="${_text//[[:cntrl:]]/ }"
  ((${#_text} <= _max)) || _text="${_text:0:_max}..."
  _safe="${_text}"
}

# text_url_decode <out var> <text>: percent-decoding that interprets nothing but `%XX` with two
# hex digits (never `printf %b` on the input: that would also expand `\` escapes). `+` is a space.
text_url_decode() {
  local -n _decoded="$1"
  local _rest="${2//+/ }" _out="" _char
  while [[ "${_rest}" =~ ^([^%]*)%([0-9A-Fa-f]{2})(.*)$ ]]; do
    # The format is `\xHH` with two hex digits matched above: nothing else reaches printf.
    # shellcheck disable=SC2059
    printf -v _char "\\x${BASH_REMATCH[2]}"
    _out+="${BASH_REMATCH[1]}${_char}"
    _rest="${BASH_REMATCH[3]}"
  done
  _decoded="${_out}${_rest}"
}

# ------------------------------------------------------------------------- the agent's env

# agent_env_export <VSO_AGENT_IGNORE as given>: the environment config.sh and the listener
# need, in the shell that starts them (azp-register, azp-run):
#  - VSO_AGENT_IGNORE: the given list plus the image's (contract.sh): the agent publishes every
#    other variable of its environment as a capability that any reader of the pool can see;
#  - the proxy as the agent reads it (AgentKnobs.cs): VSTS_HTTP_PROXY (it never reads
#    HTTPS_PROXY), its credentials in VSTS_HTTP_PROXY_USERNAME/_PASSWORD rather than in the URL;
#    Azure DevOps is https, so the https proxy is preferred. no_proxy is read as it is.
#  - a fixed locale: the listener's console is parsed for hints, and its strings follow the culture.
agent_env_export() {
  local given="$1"
  export VSO_AGENT_IGNORE="${given:+${given},}${AZP_AGENT_IGNORE_DEFAULT}"
  local url="${VSTS_HTTP_PROXY:-${HTTPS_PROXY:-${https_proxy:-${HTTP_PROXY:-${http_proxy:-}}}}}"
  if [[ -n "${url}" ]]; then
    if [[ "${url}" =~ ^([A-Za-z][A-Za-z0-9+.-]*://)([^@/]*)@(.*)$ ]]; then
      local userinfo="${BASH_REMATCH[2]}" user password=""
      url="${BASH_REMATCH[1]}${BASH_REMATCH[3]}"
      text_url_decode user "${userinfo%%:*}"
      [[ "${userinfo}" != *:* ]] || text_url_decode password "${userinfo#*:}"
      export "${AZP_AGENT_PROXY_USERNAME_VAR}=${user}" "${AZP_AGENT_PROXY_PASSWORD_VAR}=${password}"
    fi
    export "${AZP_AGENT_PROXY_URL_VAR}=${url}"
  fi
  export LC_ALL=C.UTF-8 LANG=C.UTF-8
}

# ----------------------------------------------------------------------------- fields

# jq definition: `[a, b, c] | fields` prints the values on one line separated by US (0x1f).
# Read them back with `IFS=$'\x1f' read -r a b c`: unlike a tab (IFS whitespace, which bash
# collapses), US keeps empty fields in place.
# shellcheck disable=SC2034  # used by the commands that source this file
readonly COMMON_JQ_FIELDS='def fields: map(if . == null then "" else tostring end | gsub("[[:cntrl:]]"; " ")) | join("\u001f");'

# jq definition: `epoch` turns an Azure DevOps date into epoch seconds (null when it is not one).
# Azure DevOps sends fractions of a second (up to 7 digits), which fromdateiso8601 does not take.
# shellcheck disable=SC2034  # used by the commands that source this file
readonly COMMON_JQ_EPOCH='def epoch: if type == "string" then (sub("\\.[0-9]+Z$"; "Z") | try fromdateiso8601 catch null) else null end;'

# now_rfc3339: UTC timestamp, the format Kubernetes and Azure DevOps use.
now_rfc3339() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

# ------------------------------------------------------------------------ credentials

# shellcheck source=auth.sh
source "${BASH_SOURCE[0]%/*}/auth.sh"
