#!/bin/bash
# Fake agent package: the real script installs .NET dependencies with the distro package manager.
# The fake agent is bash + curl + jq + openssl + coreutils, so there is nothing to install.
set -Eeuo pipefail
echo "--------OS Information--------"
uname -a
echo "------------------------------"
echo "The fake agent has no native dependencies; nothing to install."
