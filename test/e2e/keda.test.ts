import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobView } from "../fake-ado/control.ts";
import { jobsFinished } from "../fake-ado/test-client.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import { percentile } from "./support/metrics.ts";
import { imageContract } from "../../generator/contract/image.ts";
import { release } from "../../generator/contract/release.ts";
import {
  agentSelector,
  agentsOf,
  cleanupNamespace,
  E2E_PAT,
  install,
  poolIdOf,
  releaseCapability,
  runGc,
  startStack,
  teamValues,
  uninstall,
  upgrade,
  valuesFile,
  waitForSteadyPool,
  type Release,
  type Stack,
} from "./support/stack.ts";

/**
 * Queue-driven agents with the real KEDA operator (test/cluster/keda.sh) and the chart's
 * ScaledJob (issue #9), asserting on Kubernetes and on the fake Azure DevOps:
 *  - scale from zero: the placeholder lets jobs queue, exactly one Job per pipeline job, each pod
 *    runs one job and completes, nothing left behind;
 *  - two releases in one pool: a job demanding one release never starts a Job of the other;
 *  - minReplicas idle agents, a burst above them, never more than maxReplicas pods;
 *  - a revoked token: the ScaledJob says so, and helm test fails with a clear message;
 *  - uninstall: no Jobs, no agents, no placeholder.
 * The closing measurements (queued → job received at scale-from-zero, pods per pipeline job,
 * the scaler's calls per poll) are written to .cache/e2e/keda-metrics.json.
 */

const NS_A = "e2e-keda-a";
const NS_B = "e2e-keda-b";
const NS_C = "e2e-keda-c";
const NAMESPACES = [NS_A, NS_B, NS_C];
const POLL_SECONDS = 5;
/** Release A has a PAT of its own, so that revoking it touches no other release. */
const PAT_A = `${E2E_PAT}a`;
let stack: Stack;
let poolId: number;
let a: Release;
let b: Release;
const metrics: Record<string, unknown> = {};

const autoscaling = (overrides: Record<string, unknown> = {}) => ({
  enabled: true,
  minReplicas: 0,
  maxReplicas: 10,
  pollingInterval: POLL_SECONDS,
  idleTimeoutSeconds: 30,
  successfulJobsHistoryLimit: 20,
  ...overrides,
});

/** The release's placeholder agent: carries its AZP_RELEASE, named `<namespace>-<fullname>-placeholder-<hash>`. */
const placeholderOf = (rel: Release) =>
  stack.fake.state().agents.find((agent) => agent.name.startsWith(`${rel.namespace}-${rel.fullname}-placeholder-`) && agent.systemCapabilities[imageContract.env.release.name] === releaseCapability(rel));
const demandOf = (rel: Release): string => `AZP_RELEASE -equals ${releaseCapability(rel)}`;

/** The Jobs KEDA made for a release's ScaledJob (KEDA labels them with its name). */
async function kedaJobs(rel: Release): Promise<{ name: string; finished: boolean }[]> {
  const list = await stack.kube.json<{ items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[] } }[] }>([
    "-n", rel.namespace, "get", "jobs", "-l", `scaledjob.keda.sh/name=${rel.fullname}`,
  ]);
  return list.items.map((job) => ({
    name: job.metadata.name,
    finished: (job.status.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True"),
  }));
}

/** Agent pods that have not finished (Pending or Running). */
async function livePods(rel: Release): Promise<string[]> {
  const pods = await stack.kube.pods(rel.namespace, agentSelector(rel));
  return pods.filter((p) => p.phase === "Pending" || p.phase === "Running").map((p) => p.name);
}

/** Samples a release's Jobs and live pods every `everyMs` until stopped. */
function sampler(rel: Release, everyMs = 1000) {
  const jobs = new Set<string>();
  let maxLive = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const [seen, live] = await Promise.all([kedaJobs(rel), livePods(rel)]);
      for (const job of seen) jobs.add(job.name);
      maxLive = Math.max(maxLive, live.length);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      for (const job of await kedaJobs(rel)) jobs.add(job.name);
      return { jobs: [...jobs].sort(), maxLive };
    },
  };
}

const waitJobsFinished = (ids: number[], timeoutMs = 300_000): Promise<JobView[]> => jobsFinished(stack.fake, ids, timeoutMs);

/** No live agent pod and no agent of the release left (the placeholder aside). */
async function waitForNothingLeft(rel: Release): Promise<void> {
  await waitFor(`no live agent pod and no agent of ${rel.namespace}/${rel.name}`, async () =>
    (await livePods(rel)).length === 0 && agentsOf(stack, rel).length === 0 ? true : undefined,
  );
}

/** KEDA's job-queue calls so far: GETs of `.../pools/{id}/jobrequests` without a request id. */
const scalerCalls = () => stack.fake.requests().filter((r) => r.method === "GET" && /\/distributedtask\/pools\/\d+\/jobrequests(\?|$)/.test(r.path));

beforeAll(async () => {
  // As Azure DevOps does (the fake's default): a job no agent of the pool, online or offline, can
  // run fails at once; the placeholder is what lets the release's jobs queue at zero agents.
  stack = await startStack();
  stack.fake.auth({ pats: [PAT_A] });
  poolId = poolIdOf(stack);
  for (const ns of NAMESPACES) await cleanupNamespace(stack, ns);
  a = await install(stack, "scale", NS_A, teamValues(stack, { azp: { token: PAT_A }, autoscaling: autoscaling(), agent: { capabilities: { TEAM: "a" } } }));
  b = await install(stack, "scale", NS_B, teamValues(stack, { autoscaling: autoscaling(), agent: { capabilities: { TEAM: "b" } } }));
});

useStackCleanup(() => stack, NAMESPACES);

afterAll(async () => {
  if (Object.keys(metrics).length > 0) {
    writeFileSync(join(stack.workDir, "keda-metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
    console.log(`keda metrics: ${JSON.stringify(metrics)}`);
  }
});

describe("scale to zero", () => {
  it("should start no agent pod while nothing is queued, and keep the release's placeholder agent registered offline", async () => {
    // Three polls with an empty queue.
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_SECONDS * 1000));
    expect(await livePods(a)).toEqual([]);
    expect(await kedaJobs(a)).toEqual([]);
    const placeholder = placeholderOf(a);
    expect(placeholder?.status).toBe("offline");
    expect(placeholder?.systemCapabilities[imageContract.env.release.name]).toBe(releaseCapability(a));
    expect(placeholder?.systemCapabilities["TEAM"]).toBe("a");
  });

  it("should pass helm test at zero agents (the placeholder is registered)", async () => {
    const out = await stack.kube.helmOk(["test", a.name, "--namespace", NS_A, "--logs", "--timeout", "3m"]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
    expect(out).toContain(`placeholder agent '${placeholderOf(a)?.name}' is registered`);
  });

  it("should run 5 queued jobs on exactly 5 Jobs, one job per pod, and come back to zero with nothing left behind", async () => {
    const callsBefore = scalerCalls().length;
    const windowStart = Date.now();
    const watchA = sampler(a);
    const watchB = sampler(b);
    const queued = stack.fake.enqueue(poolId, { script: "sleep 2; echo ran on $AGENT_NAME", demands: [demandOf(a)], count: 5 });
    // The placeholder is what lets the jobs queue at zero agents.
    expect(queued.outcome).toBe("queued");
    expect(queued.matchedAgents).toEqual([placeholderOf(a)?.name]);

    const jobs = await waitJobsFinished(queued.requestIds);
    expect(jobs.map((job) => job.result)).toEqual(Array(5).fill("succeeded"));
    const agentNames = jobs.map((job) => job.agentName!);
    expect(new Set(agentNames).size).toBe(5);
    for (const name of agentNames) expect(name.startsWith(`${a.fullname}-`)).toBe(true);

    await waitForNothingLeft(a);
    const seenA = await watchA.stop();
    const seenB = await watchB.stop();
    const windowMs = Date.now() - windowStart;
    expect(seenA.jobs).toHaveLength(5);
    // Release B's agents could run none of these jobs: its ScaledJob started nothing.
    expect(seenB.jobs).toEqual([]);
    // Every pod completed (none deleted, none failed), and each ran one of the jobs.
    const pods = await stack.kube.pods(NS_A, agentSelector(a));
    expect(pods.map((p) => p.phase)).toEqual(Array(5).fill("Succeeded"));
    expect(pods.map((p) => p.name).sort()).toEqual([...agentNames].sort());
    expect(placeholderOf(a)?.status).toBe("offline");

    const latencies = jobs.map((job) => Date.parse(job.receiveTime!) - Date.parse(job.queueTime));
    const calls = scalerCalls().slice(callsBefore);
    // KEDA asks for unfinished requests only (cheap on long histories), never with $top or for the whole history.
    for (const call of calls) expect(call.path).toMatch(/[?&]completedRequestCount=0(&|$)/);
    const polls = (2 * windowMs) / (POLL_SECONDS * 1000); // two ScaledJobs poll this pool
    Object.assign(metrics, {
      pollingIntervalSeconds: POLL_SECONDS,
      queuedToReceivedMs: latencies,
      queuedToReceivedMedianMs: percentile(latencies, 50),
      queuedToReceivedMedianOverPollingInterval: Math.round((percentile(latencies, 50) / (POLL_SECONDS * 1000)) * 100) / 100,
      podsPerPipelineJob: pods.length / jobs.length,
      kedaJobsPerPipelineJob: seenA.jobs.length / jobs.length,
      scalerCalls: calls.length,
      scalerPollsExpected: Math.round(polls * 10) / 10,
      scalerCallsPerPoll: Math.round((calls.length / polls) * 100) / 100,
    });
  });

  it("should fail a job that no release of the pool can run at once, as Azure DevOps does, and start no Job for it", async () => {
    const rejected = stack.fake.enqueue(poolId, { script: "echo never", demands: ["AZP_RELEASE -equals nowhere/none"] });
    expect(rejected.outcome).toBe("failed");
    expect(rejected.statusMessage).toMatch(/No agent found in pool/);
    await new Promise((resolve) => setTimeout(resolve, 2 * POLL_SECONDS * 1000));
    expect(await livePods(a)).toEqual([]);
    expect(await livePods(b)).toEqual([]);
  });
});

describe("a token Azure DevOps no longer accepts", () => {
  it("should show in the ScaledJob's status and events, and fail helm test with a clear message", async () => {
    stack.fake.auth({ revokePats: [PAT_A] });
    try {
      const condition = await waitFor("the ScaledJob to report its trigger failing", async () => {
        const sj = await stack.kube.object<{ status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }>(NS_A, "scaledjob", a.fullname);
        const ready = sj.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.status === "False" ? ready : undefined;
      }, 120_000);
      expect(`${condition.reason} ${condition.message}`).toMatch(/TriggerError|not working/i);
      const events = await stack.kube.ok(["-n", NS_A, "get", "events", "--field-selector", `involvedObject.kind=ScaledJob,involvedObject.name=${a.fullname}`, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"]);
      expect(events).toMatch(/401/);

      const test = await stack.kube.helm(["test", a.name, "--namespace", NS_A, "--logs", "--timeout", "3m"]);
      expect(test.code).not.toBe(0);
      expect(`${test.stdout}${test.stderr}`).toContain("Azure DevOps rejected the PAT in AZP_TOKEN_FILE as invalid");
    } finally {
      stack.fake.auth({ pats: [PAT_A] });
    }
    // Back: KEDA polls again and the ScaledJob is ready.
    await waitFor("the ScaledJob to be ready again", async () => {
      const sj = await stack.kube.object<{ status?: { conditions?: { type: string; status: string }[] } }>(NS_A, "scaledjob", a.fullname);
      return sj.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" ? true : undefined;
    }, 120_000);
  });
});

describe("minReplicas and maxReplicas", () => {
  it("should keep 2 idle agents, burst above them for 8 jobs, and never run more than 3 agent pods", async () => {
    const c = await install(stack, "burst", NS_C, teamValues(stack, { autoscaling: autoscaling({ minReplicas: 2, maxReplicas: 3 }), agent: { capabilities: { TEAM: "c" } } }));
    const idle = async () => agentsOf(stack, c).filter((agent) => agent.status === "online");
    await waitFor("2 idle agents of the burst release", async () => ((await idle()).length === 2 ? true : undefined));
    // Past the idle timeout (30 s) they stay: they are the 2 kept.
    await new Promise((resolve) => setTimeout(resolve, 40_000));
    expect((await idle()).length).toBe(2);

    const watch = sampler(c, 500);
    const queued = stack.fake.enqueue(poolId, { script: "sleep 4", demands: [demandOf(c)], count: 8 });
    const jobs = await waitJobsFinished(queued.requestIds);
    const seen = await watch.stop();
    expect(jobs.map((job) => job.result)).toEqual(Array(8).fill("succeeded"));
    expect(new Set(jobs.map((job) => job.agentName)).size).toBe(8);
    expect(seen.maxLive).toBeLessThanOrEqual(3);
    expect(seen.maxLive).toBe(3);
    metrics["burstMaxLivePods"] = seen.maxLive;
    await waitFor("2 idle agents again after the burst", async () => ((await idle()).length === 2 ? true : undefined));
    await uninstall(stack, c);
    await waitForNothingLeft(c);
    expect(placeholderOf(c)).toBeUndefined();
  });
});

describe("switching modes with helm upgrade", () => {
  it("should replace the Deployment's agents by the ScaledJob and back, leaving no agent behind, and the collector removes the placeholder afterwards", async () => {
    const steady = { replicaCount: 2, gc: { offlineGraceSeconds: 0 } };
    const s = await install(stack, "switch", NS_C, teamValues(stack, steady));
    await waitForSteadyPool(stack, s, 2);

    // On: the Deployment's idle agents leave with their pods, the placeholder comes.
    await upgrade(stack, s, teamValues(stack, { ...steady, autoscaling: autoscaling() }));
    expect(await stack.kube.ok(["-n", NS_C, "get", "deployment", "-l", `app.kubernetes.io/instance=${s.name}`, "-o", "name"])).toBe("");
    await waitForNothingLeft(s);
    expect(placeholderOf(s)?.status).toBe("offline");
    const queued = stack.fake.enqueue(poolId, { script: "echo switched", demands: [demandOf(s)] });
    expect(queued.outcome).toBe("queued");
    const [job] = await waitJobsFinished(queued.requestIds);
    expect(job?.result).toBe("succeeded");
    await waitForNothingLeft(s);

    // Off again: a steady pool; the placeholder stays until the collector's next run removes it.
    await upgrade(stack, s, teamValues(stack, { ...steady, replicaCount: 1 }));
    await waitForSteadyPool(stack, s, 1);
    // The ScaledJob's Jobs go with it (their owner).
    await waitFor("the ScaledJob's Jobs to be gone", async () => ((await kedaJobs(s)).length === 0 ? true : undefined), 60_000);
    const gc = await runGc(stack, s, "switch-gc");
    expect(gc.succeeded, gc.log).toBe(true);
    expect(placeholderOf(s)).toBeUndefined();
    await uninstall(stack, s);
    await waitForNothingLeft(s);
  });
});

describe("a KEDA older than 2.20", () => {
  it("should refuse the install with a message naming the version found and the fix", async () => {
    const crd = "scaledjobs.keda.sh";
    const label = "app.kubernetes.io/version";
    const actual = await stack.kube.ok(["get", "crd", crd, "-o", `jsonpath={.metadata.labels.app\\.kubernetes\\.io/version}`]);
    await stack.kube.ok(["label", "crd", crd, `${label}=2.19.0`, "--overwrite"]);
    try {
      const r = await stack.kube.helm(["install", "old-keda", stack.chartRef, "--version", release.chartVersion, ...(stack.env.registryPlainHttp ? ["--plain-http"] : []),
        "--namespace", NS_C, "--create-namespace", "-f", valuesFile(stack, "old-keda", teamValues(stack, { autoscaling: autoscaling() }))]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("autoscaling.enabled=true needs KEDA >= 2.20.0, but the cluster runs KEDA 2.19.0");
      expect(r.stderr).toContain("autoscaling.kedaVersionCheck=false");
    } finally {
      await stack.kube.ok(["label", "crd", crd, `${label}=${actual}`, "--overwrite"]);
    }
  });
});

describe("uninstall", () => {
  it("should leave no Job, no agent and no placeholder behind", async () => {
    for (const rel of [a, b]) {
      await uninstall(stack, rel);
      await waitForNothingLeft(rel);
      expect(await kedaJobs(rel)).toEqual([]);
      expect(placeholderOf(rel)).toBeUndefined();
    }
  });
});
