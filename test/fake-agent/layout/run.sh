#!/bin/bash
# Fake agent package: run.sh as in microsoft/azure-pipelines-agent src/Misc/layoutroot/run.sh
# (contract §4.4): no signal trap, the listener runs in the foreground, exit code 4 (run-once
# agent updating) runs it once more. A SIGTERM to run.sh alone therefore ends run.sh at once and
# leaves the listener running: whoever stops an agent must signal the listener (its process group).
# One deliberate difference: "$@" where the real script passes $* unquoted (ShellCheck).

user_id=$(id -u)

# we want to snapshot the environment of the config user
if [ "$user_id" -eq 0 ] && [ -z "$AGENT_ALLOW_RUNASROOT" ]; then
  echo "Must not run interactively with sudo"
  exit 1
fi

# Change directory to the script root directory
# https://stackoverflow.com/questions/59895/getting-the-source-directory-of-a-bash-script-from-within
SOURCE="${BASH_SOURCE[0]}"
while [ -h "$SOURCE" ]; do # resolve $SOURCE until the file is no longer a symlink
  DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"
  SOURCE="$(readlink "$SOURCE")"
  [[ $SOURCE != /* ]] && SOURCE="$DIR/$SOURCE" # if $SOURCE was a relative symlink, we need to resolve it relative to the path where the symlink file was located
done
DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"

# Do not "cd $DIR". For localRun, the current directory is expected to be the repo location on disk.

shopt -s nocasematch
if [[ "$1" == "localRun" ]]; then
  "$DIR"/bin/Agent.Listener "$@"
else
  "$DIR"/bin/Agent.Listener run "$@"

  # Return code 4 means the run once agent received an update message.
  # Sleep 5 seconds to wait for the update process finish and run the agent again.
  returnCode=$?
  if [[ $returnCode == 4 ]]; then
    sleep 5 >/dev/null
    "$DIR"/bin/Agent.Listener run "$@"
  else
    exit $returnCode
  fi
fi
