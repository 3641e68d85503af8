#!/usr/bin/env bash
# Benchmarks: ratios measured in one run on this machine, never assertions (README, brief).
#   1. agent image start-up: baked agent vs download-at-start, with a ~170 MB package, over
#      loopback and over a local link shaped to 50, 200 and 1000 Mbit/s (tc tbf on a dedicated
#      Docker bridge, removed afterwards; `--rates`, `--runs`, `--pad-mb`, `--json` are passed to
#      bench/image-startup.ts): per link the baked and download medians, their ratio, the
#      throughput the download really got next to the nominal rate, and the image size;
#   2. replacement latency (job finished -> new agent listening), recorded by the e2e suite
#      in .cache/e2e/replacement-latency.json: run `npm run test:e2e` first;
#   3. the garbage collector over a pool of 1,000 agents (bench/gc-scale.ts);
#   4. churn: 100 jobs through 3 agents on the local cluster (bench/churn.ts; figures, SVG and a
#      summary under .cache/bench/);
#   5. KEDA autoscaling, recorded by the e2e suite (test/e2e/keda.test.ts) in
#      .cache/e2e/keda-metrics.json: queued -> job received at scale-from-zero against the polling
#      interval, agent pods per pipeline job, the scaler's calls per poll.
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${REPO}"
# shellcheck source=tools/apt.sh
source "${REPO}/tools/apt.sh"

bench_main() {
  bash tools/docker-up.sh all
  apt_install iproute2 # tc, for the shaped links of bench/image-startup.ts
  npx --no-install tsx bench/image-startup.ts "$@"
  npx --no-install tsx bench/gc-scale.ts --agents 1000
  bash test/cluster/up.sh >/dev/null
  npx --no-install tsx bench/churn.ts --jobs 100
  local latency="${REPO}/.cache/e2e/replacement-latency.json"
  if [[ -f "${latency}" ]]; then
    echo "replacement latency from the last e2e run (${latency}):"
    cat "${latency}"
  else
    echo "no replacement latency recorded yet: run npm run test:e2e"
  fi
  local keda="${REPO}/.cache/e2e/keda-metrics.json"
  if [[ -f "${keda}" ]]; then
    echo "KEDA autoscaling from the last e2e run (${keda}):"
    cat "${keda}"
  else
    echo "no KEDA measurements recorded yet: run npm run test:e2e"
  fi
}

bench_main "$@"
