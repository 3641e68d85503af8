#!/usr/bin/env bash
# Static checks: TypeScript types, ShellCheck over every script, actionlint over the workflows,
# generated files up to date.
# (helm lint, ct lint and kubeconform run as tests: test/lint/.)
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"

lint_main() {
  bash tools/host-packages.sh
  echo "lint: tsc --noEmit"
  npx --no-install tsc --noEmit
  echo "lint: shellcheck"
  local -a scripts
  mapfile -t scripts < <(git ls-files -co --exclude-standard | grep -v '^node_modules/' | while read -r f; do
    [[ -f "$f" ]] || continue
    case "$f" in
      *.sh | .ci/run | agent-image/bin/* | test/fake-agent/layout/bin/*) echo "$f" ;;
    esac
  done)
  shellcheck -x "${scripts[@]}"
  echo "lint: actionlint (.github/workflows, with ShellCheck over their run: steps)"
  "${REPO}/.cache/tools/bin/actionlint" -shellcheck "$(command -v shellcheck)" .github/workflows/*.yml
  echo "lint: generated files"
  npx --no-install tsx generator/cli.ts --check
}

lint_main "$@"
