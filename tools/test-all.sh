#!/usr/bin/env bash
# Every test layer, on a fresh machine: installs and starts what each layer needs, then runs
#   unit + static (render, schema, lint, sync: the generated files, no containers) → image (real
#   Docker) → release (signed multi-arch publish to the local registry) → e2e (real cluster).
# The e2e layer runs against the local single-node cluster of test/cluster/ (up.sh).
# Ends with one line "N passed, M failed, K skipped" summed over all layers; each check outside
# vitest (lint) counts there as one test.
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"
RESULTS="${REPO}/.cache/test-results"

testall_step() { printf '\n==> %s\n' "$*"; }

# Runs one vitest layer with a JSON report; a failing layer does not stop the later ones.
testall_layer() {
  local name="$1"
  shift
  testall_step "tests: ${name}"
  npx --no-install vitest run "$@" --reporter=default --reporter=json --outputFile="${RESULTS}/${name}.json"
}

# Runs a check that has no JSON report (lint) and records its outcome for the summary line.
testall_check() {
  local name="$1"
  shift
  testall_step "${name}: $*"
  local status=0
  "$@" || status=$?
  printf '%s\t%s\t%s\n' "${name}" "${status}" "$*" >>"${RESULTS}/checks.tsv"
  return "${status}"
}

# The summary of the given JSON reports and of ${RESULTS}/checks.tsv (testall_check).
testall_summary() {
  # shellcheck disable=SC2016  # the single-quoted text is JavaScript, with its own ${…}
  TESTALL_CHECKS="${RESULTS}/checks.tsv" node -e '
    const fs = require("node:fs");
    const path = require("node:path");
    let passed = 0, failed = 0, skipped = 0;
    const checks = process.env.TESTALL_CHECKS;
    for (const line of fs.existsSync(checks) ? fs.readFileSync(checks, "utf8").split("\n").filter(Boolean) : []) {
      const [name, status, command] = line.split("\t");
      if (status === "0") { passed += 1; continue; }
      failed += 1;
      console.log(`FAILED [${name}] ${command} exited ${status}`);
    }
    for (const f of process.argv.slice(1)) {
      if (!fs.existsSync(f)) { failed += 1; console.log(`no report: ${f} (layer crashed)`); continue; }
      const r = JSON.parse(fs.readFileSync(f, "utf8"));
      // A failed test counts once; a file that failed outside any test (import error, hook)
      // counts as one failure; a run that failed with neither (unhandled error) counts as one.
      let layerFailed = r.numFailedTests;
      for (const file of r.testResults ?? []) {
        if (file.status === "failed" && !(file.assertionResults ?? []).some((a) => a.status === "failed")) layerFailed += 1;
      }
      if (!r.success && layerFailed === 0) layerFailed = 1;
      passed += r.numPassedTests; failed += layerFailed;
      for (const file of r.testResults ?? []) {
        const layer = path.basename(f, ".json");
        const failures = (file.assertionResults ?? []).filter((a) => a.status === "failed");
        for (const a of failures) console.log(`FAILED [${layer}] ${a.fullName}: ${String(a.failureMessages?.[0] ?? "").split("\n")[0]}`);
        if (file.status === "failed" && failures.length === 0) console.log(`FAILED [${layer}] ${path.relative(process.cwd(), file.name)}: ${String(file.message ?? "").split("\n")[0]}`);
      }
      skipped += r.numPendingTests + r.numTodoTests;
    }
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
  ' "$@"
}

# Digests of failed e2e tests (test/e2e/support/failure-report.ts): CI shows the end of the
# output, so they come right before the summary line.
testall_digests() {
  local file
  for file in "${RESULTS}"/digest/*.txt; do
    [[ -f "${file}" ]] || continue
    printf -- '--- %s\n' "${file#"${REPO}/"}"
    head -n 40 -- "${file}"
  done
}

testall_main() {
  rm -rf "${RESULTS}" && mkdir -p "${RESULTS}"
  testall_step "host packages, toolchain, Docker engine, registry, base image"
  bash tools/host-packages.sh
  bash tools/install-tools.sh
  bash tools/docker-up.sh all

  local status=0
  testall_check lint bash tools/lint.sh || status=1

  local -a reports=()
  testall_layer fast --project unit --project static || status=1
  reports+=("${RESULTS}/fast.json")
  testall_layer image --project image || status=1
  reports+=("${RESULTS}/image.json")
  testall_layer release --project release || status=1
  reports+=("${RESULTS}/release.json")

  testall_step "local Kubernetes cluster (test/cluster)"
  if bash test/cluster/up.sh; then
    KUBECONFIG="${REPO}/.cache/cluster/kubeconfig" testall_layer e2e --project e2e || status=1
  else
    echo "error: the local cluster did not come up; the e2e layer did not run" >&2
    status=1
  fi
  reports+=("${RESULTS}/e2e.json")

  testall_step "summary"
  testall_digests
  testall_summary "${reports[@]}" || status=1
  return "${status}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  testall_main "$@"
fi
