#!/bin/bash
# Fake agent package: run.sh as in microsoft/azure-pipelines-agent src/Misc/layoutroot/run.sh
# (contract §4.4). One deliberate difference: the listener runs in the background and SIGTERM /
# SIGINT are forwarded to it, so `kill <run.sh>` triggers the listener's graceful shutdown (the
# real run.sh would die and orphan the .NET listener).
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

# Do not "cd $DIR". For localRun, the current directory is expected to be the repo location on disk.

listener_pid=""

# shellcheck disable=SC2317 # invoked from the signal traps below
run_forward_signal() {
  if [[ -n "${listener_pid}" ]]; then
    kill "-$1" "${listener_pid}" 2>/dev/null || true
  fi
}

# Runs the listener and returns its exit code, surviving the signals it forwards.
run_listener() {
  # Monitor mode gives the listener its own process group, so SIGINT is not ignored in it
  # (bash ignores SIGINT in background jobs when job control is off).
  set -m
  "${DIR}/bin/Agent.Listener" "$@" &
  listener_pid=$!
  set +m
  local rc=0
  while true; do
    rc=0
    wait "${listener_pid}" || rc=$?
    # wait returns early (>128) when a trapped signal arrives; keep waiting while it runs.
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

shopt -s nocasematch
if [[ "${1:-}" == "localRun" ]]; then
  run_listener "$@"
  exit $?
fi

returnCode=0
run_listener run "$@" || returnCode=$?

# Return code 4 means the run once agent received an update message.
# Sleep 5 seconds to wait for the update process finish and run the agent again.
if [[ "${returnCode}" == 4 ]]; then
  sleep 5 >/dev/null
  returnCode=0
  run_listener run "$@" || returnCode=$?
fi
exit "${returnCode}"
