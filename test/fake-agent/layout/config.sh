#!/bin/bash
# Fake agent package: config.sh as in microsoft/azure-pipelines-agent src/Misc/layoutroot/config.sh
# (contract §4.3), minus the .NET dependency checks (the fake has no native libraries).
set -Eeuo pipefail

user_id="$(id -u)"

# we want to snapshot the environment of the config user
if [[ "${user_id}" -eq 0 && -z "${AGENT_ALLOW_RUNASROOT:-}" ]]; then
  echo "Must not run with sudo"
  exit 1
fi

# Change directory to the script root directory (resolving symlinks, as the real script does).
SOURCE="${BASH_SOURCE[0]}"
while [[ -h "${SOURCE}" ]]; do
  DIR="$(cd -P "$(dirname "${SOURCE}")" && pwd)"
  SOURCE="$(readlink "${SOURCE}")"
  [[ "${SOURCE}" != /* ]] && SOURCE="${DIR}/${SOURCE}"
done
DIR="$(cd -P "$(dirname "${SOURCE}")" && pwd)"
cd "${DIR}"

# shellcheck source-path=SCRIPTDIR source=env.sh
source ./env.sh

shopt -s nocasematch
if [[ "${1:-}" == "remove" ]]; then
  exec ./bin/Agent.Listener "$@"
else
  exec ./bin/Agent.Listener configure "$@"
fi
