#!/usr/bin/env bash
# Debian packages the host-side tests use: the fake agent runs on the host in the unit layer,
# and ShellCheck lints every script. Idempotent.
set -Eeuo pipefail

# shellcheck source=tools/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

apt_install bash curl jq openssl shellcheck git ca-certificates
