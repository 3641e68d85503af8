// Churn benchmark (not a test): runs the e2e churn scenario (test/e2e/churn.test.ts) with
// --jobs jobs (default 100) through 3 replicas on the local cluster, then writes under
// .cache/bench/:
//   churn.json    jobs per minute, replacement latency p50/p95, pods per job, Azure DevOps calls
//                 per job (by the image's commands and by the agent)
//   churn.svg     jobs finished over time, and the replacement latencies sorted
//   churn.md      a one-page summary of both
// Needs the local cluster (bash test/cluster/up.sh) or KUBECONFIG, like the e2e layer.
//
// Usage: npx tsx bench/churn.ts [--jobs 100]
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runSync } from "../test/support/process.ts";
import { repoPath } from "../test/support/repo.ts";

interface ChurnReport {
  jobs: number;
  replicas: number;
  elapsedMs: number;
  jobsPerMinute: number;
  replacementLatencyMs: { p50: number; p95: number; samples: number[] };
  podsPerJob: number;
  imageCallsPerJob: number;
  agentCallsPerJob: number;
  jobTimeline: { queued: number; finished: number }[];
}

const { values } = parseArgs({ options: { jobs: { type: "string", default: "100" } } });
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) {
  process.stderr.write("usage: npx tsx bench/churn.ts [--jobs N]\n");
  process.exit(2);
}

const kubeconfig = process.env["KUBECONFIG"] ?? repoPath(".cache", "cluster", "kubeconfig");
const run = runSync("npx", ["--no-install", "vitest", "run", "--project", "e2e", "test/e2e/churn.test.ts"], {
  env: { ...process.env, KUBECONFIG: kubeconfig, CHURN_JOBS: String(jobs) },
  inherit: true,
});
if (run.code !== 0) {
  process.stderr.write(`bench/churn: the churn run failed (exit ${run.code}); no figures\n`);
  process.exit(1);
}

const dir = repoPath(".cache", "bench");
mkdirSync(dir, { recursive: true });
copyFileSync(repoPath(".cache", "e2e", "churn.json"), join(dir, "churn.json"));
const report = JSON.parse(readFileSync(join(dir, "churn.json"), "utf8")) as ChurnReport;

/** Two panels, hand-drawn SVG (no plotting dependency): cumulative finished jobs, sorted latencies. */
function svg(r: ChurnReport): string {
  const w = 420;
  const h = 260;
  const pad = 40;
  const panel = (x0: number, title: string, points: [number, number][], xLabel: string, yLabel: string): string => {
    const maxX = Math.max(1, ...points.map((p) => p[0]));
    const maxY = Math.max(1, ...points.map((p) => p[1]));
    const sx = (x: number): number => x0 + pad + (x / maxX) * (w - 2 * pad);
    const sy = (y: number): number => h - pad - (y / maxY) * (h - 2 * pad);
    const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    return [
      `<text x="${x0 + w / 2}" y="18" text-anchor="middle" font-size="13">${title}</text>`,
      `<line x1="${x0 + pad}" y1="${h - pad}" x2="${x0 + w - pad}" y2="${h - pad}" stroke="black"/>`,
      `<line x1="${x0 + pad}" y1="${pad}" x2="${x0 + pad}" y2="${h - pad}" stroke="black"/>`,
      `<text x="${x0 + w / 2}" y="${h - 8}" text-anchor="middle" font-size="11">${xLabel} (max ${maxX.toFixed(0)})</text>`,
      `<text x="${x0 + 12}" y="${h / 2}" font-size="11" transform="rotate(-90 ${x0 + 12} ${h / 2})" text-anchor="middle">${yLabel} (max ${maxY.toFixed(0)})</text>`,
      `<path d="${path}" fill="none" stroke="#1f6feb" stroke-width="2"/>`,
    ].join("\n");
  };
  const finished = r.jobTimeline.map((j) => j.finished / 1000).sort((a, b) => a - b);
  const cumulative: [number, number][] = [[0, 0], ...finished.map((t, i): [number, number] => [t, i + 1])];
  const latencies: [number, number][] = [...r.replacementLatencyMs.samples].sort((a, b) => a - b).map((ms, i) => [i + 1, ms / 1000]);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, `${r.jobs} jobs through ${r.replicas} agents: finished over time`, cumulative, "seconds since queued", "jobs finished"),
    panel(w, "replacement latency, sorted (job finished → new agent listening)", latencies, "sample", "seconds"),
    `</svg>`,
  ].join("\n");
}

writeFileSync(join(dir, "churn.svg"), `${svg(report)}\n`);
const summary = [
  `# Churn: ${report.jobs} jobs through ${report.replicas} agents`,
  "",
  "One run on this machine, against the local single-node cluster and the fake Azure DevOps (ratios, not guarantees).",
  "",
  "| figure | value |",
  "|---|---|",
  `| wall time | ${(report.elapsedMs / 1000).toFixed(1)} s |`,
  `| jobs per minute | ${report.jobsPerMinute.toFixed(1)} |`,
  `| replacement latency p50 / p95 (job finished → new agent listening) | ${(report.replacementLatencyMs.p50 / 1000).toFixed(1)} s / ${(report.replacementLatencyMs.p95 / 1000).toFixed(1)} s |`,
  `| pods created per job | ${report.podsPerJob.toFixed(2)} |`,
  `| Azure DevOps calls per job, by the image's commands | ${report.imageCallsPerJob.toFixed(1)} |`,
  `| Azure DevOps calls per job, by the agent (incl. token) | ${report.agentCallsPerJob.toFixed(1)} |`,
  "",
  "![churn](churn.svg)",
  "",
].join("\n");
writeFileSync(join(dir, "churn.md"), summary);
process.stdout.write(`${summary}\nwritten: ${dir}/churn.{json,svg,md}\n`);
