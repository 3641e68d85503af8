import { beforeAll, describe, expect, it } from "vitest";
import { jobFinished } from "../fake-ado/test-client.ts";
import { imageContract } from "../../generator/contract/image.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import {
  agentsOf,
  cleanupNamespace,
  E2E_POOL,
  install,
  refreshCronJob,
  releaseCapability,
  startStack,
  teamValues,
  waitForSteadyPool,
  type Release,
  type Stack,
} from "./support/stack.ts";
import { testPools } from "../fake-ado/test-pools.ts";

/**
 * Teams share clusters: releases in two namespaces with different pools, two releases in one
 * namespace, and two releases of the same name in two namespaces sharing a pool, must coexist
 * with no name collision and no cross-talk (a job of one pool runs only on that pool's agents;
 * one release's agents never count as another's). Then the refresh job's failures against the
 * real API server and the chart's RBAC: another Deployment (forbidden), its own gone (missing).
 */

const NS_A = "e2e-team-a";
const NS_B = "e2e-team-b";
const NS_C = "e2e-team-c";
const NAMESPACES = [NS_A, NS_B, NS_C];
const POOL_B = testPools.teamB;
let stack: Stack;
let a1: Release;
let a2: Release;
let b: Release;
let c: Release;

const names = async (namespace: string, instance: string): Promise<Set<string>> => {
  const out = await stack.kube.ok(["-n", namespace, "get", "all,secret,serviceaccount,role,rolebinding,cronjob", "-l", `app.kubernetes.io/instance=${instance}`, "-o", "name"]);
  return new Set(out.split("\n").filter(Boolean));
};

beforeAll(async () => {
  stack = await startStack([POOL_B]);
  await Promise.all(NAMESPACES.map((ns) => cleanupNamespace(stack, ns)));
  const small = { replicaCount: 1 };
  [a1, a2, b, c] = await Promise.all([
    install(stack, "alpha", NS_A, teamValues(stack, small)),
    install(stack, "beta", NS_A, teamValues(stack, small)),
    install(stack, "alpha", NS_B, teamValues(stack, { ...small, azp: { pool: POOL_B } })),
    // Same release name as a1, same pool: only the AZP_RELEASE capability tells them apart.
    install(stack, "alpha", NS_C, teamValues(stack, small)),
  ]);
});

useStackCleanup(() => stack, NAMESPACES);

describe("releases of several teams", () => {
  it("should bring every release to its own online agents in its own pool", async () => {
    const [a1Pods, , bPods, cPods] = await Promise.all([waitForSteadyPool(stack, a1, 1), waitForSteadyPool(stack, a2, 1), waitForSteadyPool(stack, b, 1, 240_000), waitForSteadyPool(stack, c, 1)]);
    expect(agentsOf(stack, b, POOL_B).map((a) => a.name)).toEqual(bPods.map((p) => p.name));
    // "alpha" exists in both namespaces: the default pool holds team A's alpha, never team B's pod.
    const defaultPool = stack.fake.state().pools.find((p) => p.name === E2E_POOL)!.id;
    const inDefaultPool = stack.fake.state().agents.filter((a) => a.poolId === defaultPool).map((a) => a.name);
    expect(inDefaultPool).not.toContain(bPods[0]!.name);
    // "alpha" of team C shares the default pool with team A's: two agents, one per release.
    expect(agentsOf(stack, a1).map((a) => a.name)).toEqual(a1Pods.map((p) => p.name));
    expect(agentsOf(stack, c).map((a) => a.name)).toEqual(cPods.map((p) => p.name));
  });

  it("should give two releases in one namespace disjoint resource names", async () => {
    const [first, second] = await Promise.all([names(NS_A, a1.name), names(NS_A, a2.name)]);
    expect(first.size).toBeGreaterThan(5);
    expect([...first].filter((n) => second.has(n))).toEqual([]);
  });

  it("should run a job of pool B only on team B's agent", async () => {
    const poolB = stack.fake.state().pools.find((p) => p.name === POOL_B)!.id;
    const [id] = stack.fake.enqueueJobs(poolB, { script: "echo team b job" });
    const job = await jobFinished(stack.fake, id!, 240_000);
    expect(job.result).toBe("succeeded");
    expect(job.agentName?.startsWith(`${b.fullname}-`)).toBe(true);
    // The other teams' agents are untouched and still registered.
    await Promise.all([waitForSteadyPool(stack, a1, 1), waitForSteadyPool(stack, a2, 1), waitForSteadyPool(stack, b, 1), waitForSteadyPool(stack, c, 1)]);
  });

  it("should pass helm test for each release, counting only its own agents", async () => {
    for (const rel of [a1, a2, b, c]) {
      const own = agentsOf(stack, rel).map((a) => a.name);
      const out = await stack.kube.helmOk(["test", rel.name, "--namespace", rel.namespace, "--logs", "--timeout", "5m"]);
      expect(out).toMatch(/Phase:\s+Succeeded/);
      // Team A's and team C's "alpha" share a pool: each counts its own agent only.
      expect(out).toContain(`ok: 1 agent(s) of release '${releaseCapability(rel)}' registered in pool '${rel.pool}': ${own.join(", ")}`);
    }
  });
});

/**
 * Runs the release's refresh CronJob once as a Job (backoffLimit 0), optionally pointed at
 * another Deployment, and returns its outcome and log: the refresher against the real API
 * server and the chart's real RBAC.
 */
async function refreshOnce(rel: Release, jobName: string, deployment?: string): Promise<{ failed: boolean; log: string }> {
  const cronJob = await refreshCronJob(stack, rel);
  const cron = await stack.kube.json<{ spec: { jobTemplate: { spec: RefreshJobSpec } } }>(["-n", rel.namespace, "get", "cronjob", cronJob]);
  const spec = cron.spec.jobTemplate.spec;
  spec.backoffLimit = 0;
  if (deployment !== undefined) {
    for (const container of spec.template.spec.containers) {
      container.env = (container.env ?? []).map((e) => (e.name === imageContract.env.deployment.name ? { name: e.name, value: deployment } : e));
    }
  }
  const job = { apiVersion: "batch/v1", kind: "Job", metadata: { name: jobName, namespace: rel.namespace }, spec };
  await stack.kube.ok(["create", "-f", "-"], JSON.stringify(job));
  const outcome = await waitFor(`the Job ${rel.namespace}/${jobName} to end`, async () => {
    const status = (await stack.kube.object<{ status: { succeeded?: number; failed?: number } }>(rel.namespace, "job", jobName)).status;
    if ((status.failed ?? 0) > 0) return "failed";
    return (status.succeeded ?? 0) > 0 ? "succeeded" : undefined;
  });
  const log = await stack.kube.ok(["-n", rel.namespace, "logs", `job/${jobName}`]);
  return { failed: outcome === "failed", log };
}

interface RefreshJobSpec {
  backoffLimit?: number;
  template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } };
}

describe("the refresh job of a release (real API server, the chart's RBAC)", () => {
  it("should say which permission its Role lacks when pointed at another Deployment", async () => {
    // A Deployment the refresher's Role does not name (resourceNames): the API refuses the read.
    await stack.kube.ok(["-n", NS_B, "create", "deployment", "not-ours", `--image=${stack.imageRepository}:${stack.imageTag}`, "--replicas=0"]);
    const r = await refreshOnce(b, "refresh-forbidden", "not-ours");
    expect(r.failed).toBe(true);
    expect(r.log).toContain(`the Kubernetes API forbids reading Deployment ${NS_B}/not-ours (HTTP 403`);
    expect(r.log).toContain("the Role bound to this ServiceAccount must allow 'get' on 'deployments' (apps)");
    // Nothing was restarted.
    const annotations = await stack.kube.ok(["-n", NS_B, "get", "deployment", "not-ours", "-o", "jsonpath={.spec.template.metadata.annotations}"]);
    expect(annotations).not.toContain("restartedAt");
  });

  it("should name its Deployment when it has been deleted", async () => {
    await stack.kube.ok(["-n", NS_B, "delete", "deployment", b.fullname, "--wait=true"]);
    const r = await refreshOnce(b, "refresh-missing");
    expect(r.failed).toBe(true);
    expect(r.log).toContain(`azp-refresh: error: Deployment '${b.fullname}' (AZP_DEPLOYMENT) does not exist in namespace '${NS_B}'`);
  });
});

