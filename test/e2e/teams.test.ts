import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { reportFailure } from "./support/failure-report.ts";
import { agentsOf, cleanupNamespace, E2E_POOL, install, releaseCapability, startStack, teamValues, waitForSteadyPool, type Release, type Stack } from "./support/stack.ts";

/**
 * Teams share clusters: releases in two namespaces with different pools, two releases in one
 * namespace, and two releases of the same name in two namespaces sharing a pool, must coexist
 * with no name collision and no cross-talk (a job of one pool runs only on that pool's agents;
 * one release's agents never count as another's).
 */

const NS_A = "e2e-team-a";
const NS_B = "e2e-team-b";
const NS_C = "e2e-team-c";
const NAMESPACES = [NS_A, NS_B, NS_C];
const POOL_B = "team-b-pool";
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

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail") await reportFailure(stack, ctx.task.name, NAMESPACES);
});

afterAll(async () => {
  await Promise.all(NAMESPACES.map((ns) => cleanupNamespace(stack, ns)));
  await stack?.fake.close();
});

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
    const job = await stack.fake.waitFor(() => {
      const j = stack.fake.job(id!);
      return j.state === "finished" ? j : undefined;
    }, { timeoutMs: 240_000 });
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
