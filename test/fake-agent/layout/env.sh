#!/bin/bash
# Fake agent package: env.sh as in microsoft/azure-pipelines-agent src/Misc/layoutroot/env.sh
# (contract §4.5): writes PATH to .path and appends selected variables to .env. It is *sourced*
# (by config.sh and by entrypoints running under `set -Eeuo pipefail`), so it must not exit, must
# tolerate `set -u` and leaves no variables or functions behind.

env_sh_main() {
  local -a var_check_list=(
    'LANG'
    'JAVA_HOME'
    'ANT_HOME'
    'M2_HOME'
    'ANDROID_HOME'
    'GRADLE_HOME'
    'NVM_BIN'
    'NVM_PATH'
    'VSTS_HTTP_PROXY'
    'VSTS_HTTP_PROXY_USERNAME'
    'VSTS_HTTP_PROXY_PASSWORD'
    'LD_LIBRARY_PATH'
    'PERL5LIB'
    'AGENT_TOOLSDIRECTORY'
  )
  local -a var_check_list_regex=('JAVA_HOME_.*')
  local env_contents=""

  if [[ -f ".env" ]]; then
    env_contents="$(cat .env)"
  else
    touch .env
  fi

  env_sh_write_var() {
    local check_var="$1"
    local check_delim="${1}="
    if [[ "${env_contents#*"${check_delim}"}" == "${env_contents}" ]]; then
      if [[ -n "${!check_var:-}" ]]; then
        echo "${check_var}=${!check_var}" >>.env
      fi
    fi
  }

  echo "${PATH}" >.path

  local var_name
  for var_name in "${var_check_list[@]}"; do
    env_sh_write_var "${var_name}"
  done

  local var pattern
  for var in $(compgen -e); do
    for pattern in "${var_check_list_regex[@]}"; do
      if [[ "${var}" =~ ${pattern} ]]; then
        env_sh_write_var "${var}"
      fi
    done
  done
  unset -f env_sh_write_var
}

env_sh_main
unset -f env_sh_main
