import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import type { JobView } from "../fake-ado/control.ts";
import { basic, jobFinished, registerAgent } from "../fake-ado/test-client.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { runOk } from "../support/process.ts";
import { waitFor } from "./support/kube.ts";
import { agentSelector, agentsOf, cleanupNamespace, E2E_PAT, install, poolIdOf, runGc, startStack, teamValues, waitForSteadyPool, type Release, type Stack } from "./support/stack.ts";

/**
 * Faults on the real cluster (issue #8): a pod dies without its sidecar getting a word in, or a
 * container of it is killed mid-job. Each case ends with exactly REPLICAS online agents of the
 * release in the pool and none offline, after at most one run of the release's garbage
 * collector (its CronJob, started by hand as the schedule would). Agents of another release and
 * an agent that is not from the chart, in the same pool, are never touched.
 */

const NS = "e2e-faults";
const REPLICAS = 2;
/** A killed listener's job is abandoned when its lock expires (the real service: ~10 minutes). */
const JOB_LOCK_MS = 20_000;
const GC_GRACE_SECONDS = 5;

let stack: Stack;
let rel: Release;
let poolId: number;
let gcRuns = 0;
const bystanders: string[] = [];

/** The local cluster of test/cluster/ (node-level faults need its kubelet and containerd). */
const nodeScript = (repo: string): string => join(repo, "test/cluster/node.sh");
const localCluster = (): boolean => existsSync("/run/azp-cluster/pids/kubelet.pid");

beforeAll(async () => {
  // A listener that stopped polling makes its agent offline after 15 s (the real service: a few
  // minutes), so a lost node's agent is offline before the collector runs.
  stack = await startStack([], { jobLockMs: JOB_LOCK_MS, sessionIdleTimeoutMs: 15_000 });
  await cleanupNamespace(stack, NS);
  rel = await install(
    stack,
    "faults",
    NS,
    teamValues(stack, { replicaCount: REPLICAS, refresh: { enabled: false }, agent: { statusCheckSeconds: 5 }, gc: { offlineGraceSeconds: GC_GRACE_SECONDS } }),
  );
  poolId = poolIdOf(stack);
  // Bystanders in the same pool: a build server that is not from the chart, and an orphan of
  // another release (no pod in this namespace either). Neither may ever be touched.
  const auth = basic("user", E2E_PAT);
  await registerAgent(stack.fake, poolId, "build-server-01", auth);
  await registerAgent(stack.fake, poolId, "other-azp-agent-5d9c7b-x2x2x", auth, undefined, { [imageContract.env.release.name]: `${NS}/other-azp-agent` });
  bystanders.push("build-server-01", "other-azp-agent-5d9c7b-x2x2x");
}, 600_000);

useStackCleanup(() => stack, [NS]);

const poolNames = (): string[] =>
  stack.fake
    .state()
    .agents.filter((a) => a.poolId === poolId)
    .map((a) => a.name);

const finished = (id: number, timeoutMs: number): Promise<JobView> => jobFinished(stack.fake, id, timeoutMs);

async function started(id: number): Promise<void> {
  await stack.fake.waitFor(() => (stack.fake.job(id).state === "received" ? true : undefined), { timeoutMs: 120_000, what: `job ${id} to start` });
}

async function node(...args: string[]): Promise<void> {
  await runOk("bash", [nodeScript(stack.env.repo), ...args], { timeoutMs: 240_000 });
}

async function forceDelete(pod: string): Promise<void> {
  await stack.kube.ok(["-n", NS, "delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"]);
}

/**
 * The end state every case must reach: the dead pod replaced, then (after the collector's grace)
 * one collector run, then exactly REPLICAS online agents of the release, none stale, and the
 * bystanders still there. Returns the collector's log.
 */
async function settlesWithOneGcRun(deadPod: string): Promise<string> {
  await waitFor(`${REPLICAS} running agent pods, ${deadPod} gone`, async () => {
    const pods = (await stack.kube.pods(NS, agentSelector(rel))).filter((p) => !p.terminating && p.phase === "Running" && p.ready);
    return pods.length === REPLICAS && !pods.some((p) => p.name === deadPod) ? true : undefined;
  }, 240_000);
  await new Promise((resolve) => setTimeout(resolve, (GC_GRACE_SECONDS + 1) * 1000));
  gcRuns += 1;
  const gc = await runGc(stack, rel, `gc-now-${gcRuns}`);
  expect(gc.succeeded, gc.log).toBe(true);
  await waitForSteadyPool(stack, rel, REPLICAS, 60_000);
  expect(agentsOf(stack, rel).some((a) => a.name === deadPod)).toBe(false);
  expect(poolNames()).toEqual(expect.arrayContaining(bystanders));
  for (const name of bystanders) expect(gc.log).not.toContain(name);
  // For the record (the closing note's per-case outcome): what the collector did.
  const decisions = gc.log.split("\n").filter((l) => l.includes(`'${deadPod}'`) || l.includes("done:"));
  console.log(`fault case ${deadPod}: ${decisions.map((l) => l.replace(/^azp-gc: /, "")).join(" | ")}`);
  return gc.log;
}

describe("a pod force-deleted", () => {
  it("should leave no agent behind when it was idle", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    await forceDelete(target!.name);
    await settlesWithOneGcRun(target!.name);
  });

  it("should leave no agent behind when it was running a job (the job is lost, not run twice)", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const [id] = stack.fake.enqueueJobs(poolId, { script: "echo working; sleep 300", displayName: "Doomed", demands: [`Agent.Name -equals ${target!.name}`] });
    await started(id!);
    await forceDelete(target!.name);
    const job = await finished(id!, JOB_LOCK_MS + 120_000);
    expect(job.result).not.toBe("succeeded");
    expect(job.agentName).toBe(target!.name);
    await settlesWithOneGcRun(target!.name);
  });
});

describe.runIf(localCluster())("a lost node (kubelet stopped, the pod's containers killed, the pod force-deleted)", () => {
  it("should have its agent collected and the pool back to full strength", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const dead = target!.name;
    const agentId = agentsOf(stack, rel).find((a) => a.name === dead)?.id;
    await node("stop-kubelet");
    try {
      await node("kill-pod", NS, dead);
      await forceDelete(dead);
    } finally {
      await node("start-kubelet");
    }
    // Nobody told Azure DevOps: the agent is still registered, and offline once the service
    // notices its listener is gone; then one collector run removes it.
    expect(agentsOf(stack, rel).some((a) => a.name === dead)).toBe(true);
    await waitFor(`agent ${dead} to be offline`, async () => (agentsOf(stack, rel).find((a) => a.name === dead)?.status === "offline" ? true : undefined), 120_000);
    const log = await settlesWithOneGcRun(dead);
    expect(log).toMatch(new RegExp(`removed agent ${String(agentId)} '${dead}': offline for`));
  });
});

describe.runIf(localCluster())("a container killed during a job", () => {
  it("should lose the job, remove the agent and replace the pod when the agent container dies (as on OOM)", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const [id] = stack.fake.enqueueJobs(poolId, { script: "echo eating memory; sleep 300", displayName: "Hog", demands: [`Agent.Name -equals ${target!.name}`] });
    await started(id!);
    await node("kill-container", NS, target!.name, imageContract.containers.agent);
    const job = await finished(id!, JOB_LOCK_MS + 120_000);
    expect(job.result).not.toBe("succeeded");
    // The sidecar is alive: it removes the agent once Azure DevOps has given up on the job.
    await waitFor(`agent ${target!.name} to leave the pool`, async () => (agentsOf(stack, rel).some((a) => a.name === target!.name) ? undefined : true), 120_000);
    await settlesWithOneGcRun(target!.name);
  });

  it("should still remove the agent after its job when the deregister sidecar is killed and restarted mid-job", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const [id] = stack.fake.enqueueJobs(poolId, { script: "echo steady; sleep 20; echo done", displayName: "Steady", demands: [`Agent.Name -equals ${target!.name}`] });
    await started(id!);
    await node("kill-container", NS, target!.name, imageContract.containers.deregister);
    const job = await finished(id!, 180_000);
    expect(job.result).toBe("succeeded");
    expect(job.output).toContain("done");
    await waitFor(`agent ${target!.name} to leave the pool`, async () => (agentsOf(stack, rel).some((a) => a.name === target!.name) ? undefined : true), 120_000);
    const log = await settlesWithOneGcRun(target!.name);
    expect(log).toContain("done: 0 removed");
  });
});

describe("Azure DevOps failing", () => {
  it("should bring a new pod up once the service answers again after 5xx at its start, with the reason in the pod's status", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    // Enough 503s to exhaust one register run (AZP_CONNECT_ATTEMPTS=5, backoff 1, 2, 4, 8 s).
    stack.fake.fault("GET", "/_apis/connectionData", 503, 6);
    await stack.kube.ok(["-n", NS, "delete", "pod", target!.name, "--wait=false"]);
    const failed = await waitFor("a register container that gave up, with its reason", async () => {
      for (const pod of await stack.kube.pods(NS, agentSelector(rel))) {
        const out = await stack.kube.json<{ status: { initContainerStatuses?: { name: string; lastState?: { terminated?: { exitCode: number; message?: string } } }[] } }>(["-n", NS, "get", "pod", pod.name]);
        const register = out.status.initContainerStatuses?.find((c) => c.name === imageContract.containers.register);
        if (register?.lastState?.terminated) return register.lastState.terminated;
      }
      return undefined;
    }, 180_000);
    expect(failed.exitCode).toBe(3);
    expect(failed.message).toContain("Azure DevOps failed while checking the connection");
    await settlesWithOneGcRun(target!.name);
  });

  it("should retry a removal the service fails with 5xx, and remove the agent exactly once", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const agentId = agentsOf(stack, rel).find((a) => a.name === target!.name)?.id;
    stack.fake.fault("DELETE", `/agents/${String(agentId)}?`, 500, 2);
    const [id] = stack.fake.enqueueJobs(poolId, { script: "echo quick", displayName: "Quick", demands: [`Agent.Name -equals ${target!.name}`] });
    expect((await finished(id!, 120_000)).result).toBe("succeeded");
    await waitFor(`agent ${target!.name} to leave the pool`, async () => (agentsOf(stack, rel).some((a) => a.name === target!.name) ? undefined : true), 180_000);
    const deletes = stack.fake.requests().filter((r) => r.method === "DELETE" && r.path.includes(`/agents/${String(agentId)}?`));
    expect(deletes.map((r) => r.status)).toEqual([500, 500, 204]);
    await settlesWithOneGcRun(target!.name);
  });
});
