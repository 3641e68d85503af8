import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { jobsFinished } from "../fake-ado/test-client.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { percentile, replacementLatenciesMs } from "./support/metrics.ts";
import { agentsOf, cleanupNamespace, install, poolIdOf, runGc, startStack, teamValues, waitForSteadyPool, type Release, type Stack } from "./support/stack.ts";

/**
 * Churn (issue #8): CHURN_JOBS jobs of random short durations (0-3 s) through REPLICAS agents.
 * Every job succeeds, each on an agent no other job had, none is cancelled, and the pool ends
 * with exactly REPLICAS online agents of the release and nothing for the garbage collector.
 * CI runs 20 jobs; the benchmark (`npm run bench`) runs 100 (CHURN_JOBS=100) and draws the
 * figures written to .cache/e2e/churn.json (measured, never asserted).
 */

const NS = "e2e-churn";
const REPLICAS = 3;
const JOBS = Number(process.env["CHURN_JOBS"] ?? "20");

let stack: Stack;
let rel: Release;
let poolId: number;

beforeAll(async () => {
  stack = await startStack();
  await cleanupNamespace(stack, NS);
  rel = await install(stack, "churn", NS, teamValues(stack, { replicaCount: REPLICAS, refresh: { enabled: false }, gc: { offlineGraceSeconds: 0 } }));
  poolId = poolIdOf(stack);
}, 600_000);

useStackCleanup(() => stack, [NS]);

describe(`${JOBS} jobs through ${REPLICAS} agents`, () => {
  it("should run every job once, each on its own fresh agent, and leave nothing behind", async () => {
    const before = new Set((await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name));
    stack.fake.clearRequests();
    const started = Date.now();
    const ids: number[] = [];
    for (let i = 0; i < JOBS; i++) {
      // Random short durations, fixed per run by the job's index (reproducible output).
      const seconds = ((i * 7) % 4) + (i % 3) * 0.25;
      ids.push(...stack.fake.enqueueJobs(poolId, { script: `echo churn ${i}; sleep ${seconds}`, displayName: `Churn ${i}` }));
    }
    const jobs = await jobsFinished(stack.fake, ids, Math.max(600_000, JOBS * 30_000));
    const elapsedMs = Date.now() - started;

    expect(jobs.map((j) => j.result)).toEqual(ids.map(() => "succeeded"));
    const agents = jobs.map((j) => j.agentName);
    expect(new Set(agents).size).toBe(JOBS);
    for (const [i, job] of jobs.entries()) expect(job.output).toContain(`churn ${i}`);
    await waitForSteadyPool(stack, rel, REPLICAS);
    const gc = await runGc(stack, rel, "gc-after-churn");
    expect(gc.succeeded, gc.log).toBe(true);
    expect(gc.log).toContain("done: 0 removed");
    expect(agentsOf(stack, rel)).toHaveLength(REPLICAS);

    // Measured, not asserted: what the benchmark reports.
    const requests = stack.fake.requests();
    const latencies = replacementLatenciesMs(requests, jobs, before);
    const imageCalls = requests.filter((r) => (r.userAgent ?? "").startsWith("azp-agent-image/")).length;
    const agentCalls = requests.filter((r) => r.principal.startsWith("agent:") || r.principal === "anonymous").length;
    // Pods created during the churn: agents that were not there before it (each job uses up one).
    const podsCreated = new Set(requests.filter((r) => r.principal.startsWith("agent:") && !before.has(r.principal.slice("agent:".length))).map((r) => r.principal)).size;
    const report = {
      jobs: JOBS,
      replicas: REPLICAS,
      elapsedMs,
      jobsPerMinute: (JOBS * 60_000) / elapsedMs,
      replacementLatencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), samples: latencies },
      podsPerJob: podsCreated / JOBS,
      imageCallsPerJob: imageCalls / JOBS,
      agentCallsPerJob: agentCalls / JOBS,
      jobTimeline: jobs.map((j) => ({ queued: Date.parse(j.queueTime ?? "") - started, finished: Date.parse(j.finishTime ?? "") - started })),
    };
    writeFileSync(join(stack.workDir, "churn.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(
      `churn: ${JOBS} jobs in ${(elapsedMs / 1000).toFixed(1)} s (${report.jobsPerMinute.toFixed(1)}/min); replacement p50 ${report.replacementLatencyMs.p50} ms, p95 ${report.replacementLatencyMs.p95} ms; ` +
        `${report.podsPerJob.toFixed(2)} pods/job; Azure DevOps calls per job: ${report.imageCallsPerJob.toFixed(1)} by the image, ${report.agentCallsPerJob.toFixed(1)} by the agent`,
    );
  });
});
