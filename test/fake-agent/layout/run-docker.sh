#!/bin/bash
# Fake agent package: run-docker.sh as in microsoft/azure-pipelines-agent
# src/Misc/layoutroot/run-docker.sh (contract §4.4): without --once it adds
# `--startuptype service`, echoes "Agent exit code N" and treats 3/4 as "updating".
# Like the fake run.sh it forwards SIGTERM/SIGINT to the listener.
set -Euo pipefail

# Validate not sudo
user_id="$(id -u)"
if [[ "${user_id}" -eq 0 && -z "${AGENT_ALLOW_RUNASROOT:-}" ]]; then
  echo "Must not run interactively with sudo"
  exit 1
fi

SOURCE="${BASH_SOURCE[0]}"
while [[ -h "${SOURCE}" ]]; do
  DIR="$(cd -P "$(dirname "${SOURCE}")" && pwd)"
  SOURCE="$(readlink "${SOURCE}")"
  [[ "${SOURCE}" != /* ]] && SOURCE="${DIR}/${SOURCE}"
done
DIR="$(cd -P "$(dirname "${SOURCE}")" && pwd)"

shopt -s nocasematch

ONCE=false
for a in "$@"; do
  if [[ "${a}" == "--once" ]]; then
    ONCE=true
  fi
done

listener_pid=""

# shellcheck disable=SC2317 # invoked from the signal traps below
run_forward_signal() {
  if [[ -n "${listener_pid}" ]]; then
    kill "-$1" "${listener_pid}" 2>/dev/null || true
  fi
}

run_listener() {
  set -m
  "${DIR}/bin/Agent.Listener" "$@" &
  listener_pid=$!
  set +m
  local rc=0
  while true; do
    rc=0
    wait "${listener_pid}" || rc=$?
    if kill -0 "${listener_pid}" 2>/dev/null; then
      continue
    fi
    break
  done
  listener_pid=""
  return "${rc}"
}

trap 'run_forward_signal TERM' TERM
trap 'run_forward_signal INT' INT

run_agent() {
  local returnCode=0
  if [[ "${1:-}" == "localRun" ]]; then
    run_listener "$@" || returnCode=$?
    exit "${returnCode}"
  fi
  if [[ "${ONCE}" == true ]]; then
    run_listener run "$@" || returnCode=$?
  else
    echo "Starting Agent listener with startup type: service - to prevent running of an agent in a separate process after self-update"
    run_listener run --startuptype service "$@" || returnCode=$?
  fi

  echo "Agent exit code ${returnCode}"
  if [[ "${returnCode}" == 3 || "${returnCode}" == 4 ]]; then
    sleep 5
    local retry=0
    while [[ "${retry}" != 15 ]] && [[ ! -x "${DIR}/bin/Agent.Listener" ]]; do
      sleep 1
      retry=$((retry + 1))
    done
    if [[ ! -x "${DIR}/bin/Agent.Listener" ]]; then
      echo "Failed to update within 20 seconds." >&2
      exit 1
    fi
    run_agent "$@"
  else
    exit "${returnCode}"
  fi
}

run_agent "$@"
