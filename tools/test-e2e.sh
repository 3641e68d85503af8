#!/usr/bin/env bash
# The e2e layer: against $KUBECONFIG when it is set (kind, k3d, AKS: see test/e2e/README.md),
# otherwise against the local single-node cluster of test/cluster/, brought up first.
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"

teste2e_main() {
  if [[ -z "${KUBECONFIG:-}" ]]; then
    bash tools/docker-up.sh all
    bash tools/install-tools.sh >/dev/null
    bash test/cluster/up.sh
  fi
  npx --no-install vitest run --project e2e "$@"
}

teste2e_main "$@"
