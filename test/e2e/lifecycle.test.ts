import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobView } from "../fake-ado/control.ts";
import { jobFinished } from "../fake-ado/test-client.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import { agentSelector, agentsOf, cleanupNamespace, E2E_PAT, install, poolIdOf, refreshCronJob, startStack, teamValues, uninstall, upgrade, waitForSteadyPool, type Release, type Stack } from "./support/stack.ts";
import { replacementLatenciesMs } from "./support/metrics.ts";

/**
 * The whole ephemeral lifecycle on a real cluster, one release installed from the OCI registry:
 * register → one job → de-register → pod deleted → replaced; more jobs than agents; refresh
 * while a job runs; credential isolation seen from a job step; upgrade and uninstall.
 * Every scenario asserts on Kubernetes and on the fake Azure DevOps.
 */

const NS = "e2e-lifecycle";
const REPLICAS = 3;
let stack: Stack;
let rel: Release;
let poolId: number;
const latencies: number[] = [];

const waitJobFinished = (requestId: number, timeoutMs = 240_000): Promise<JobView> => jobFinished(stack.fake, requestId, timeoutMs);

beforeAll(async () => {
  stack = await startStack();
  await cleanupNamespace(stack, NS);
  rel = await install(stack, "team-a", NS, teamValues(stack, { replicaCount: REPLICAS }));
  poolId = poolIdOf(stack);
});

useStackCleanup(() => stack, [NS]);

afterAll(async () => {
  if (latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const report = { samplesMs: latencies, medianMs: median };
    writeFileSync(join(stack.workDir, "replacement-latency.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`replacement latency (job finished -> new agent listening): median ${median} ms over ${latencies.length} samples: ${latencies.join(", ")}`);
  }
});

describe("an installed release", () => {
  it("should register one online agent per pod, under the pod's name", async () => {
    const pods = await waitForSteadyPool(stack, rel, REPLICAS);
    expect(agentsOf(stack, rel).map((a) => a.name).sort()).toEqual(pods.map((p) => p.name).sort());
  });

  it("should pass helm test", async () => {
    const out = await stack.kube.helmOk(["test", rel.name, "--namespace", NS, "--logs", "--timeout", "5m"]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });
});

describe("one job", () => {
  it("should run on exactly one agent, which de-registers and whose pod is replaced by a fresh one", async () => {
    const before = await waitForSteadyPool(stack, rel, REPLICAS);
    const beforeNames = new Set(before.map((p) => p.name));

    const [requestId] = stack.fake.enqueueJobs(poolId, { script: "echo hello from $AGENT_NAME" });
    const job = await waitJobFinished(requestId!);

    expect(job.result).toBe("succeeded");
    expect(beforeNames.has(job.agentName!)).toBe(true);
    expect(job.output).toContain(`hello from ${job.agentName}`);
    // The agent that ran it is gone from the pool and from the cluster.
    await waitFor("the job's agent to leave the pool", async () => (agentsOf(stack, rel).some((a) => a.name === job.agentName) ? undefined : true));
    await waitFor("the job's pod to be deleted", async () => {
      const pods = await stack.kube.pods(NS, agentSelector(rel));
      return pods.some((p) => p.name === job.agentName) ? undefined : true;
    });
    const after = await waitForSteadyPool(stack, rel, REPLICAS);
    const fresh = after.filter((p) => !beforeNames.has(p.name));
    expect(fresh).toHaveLength(1);
    // DELETE of that agent happened exactly once.
    const agentId = stack.fake.state().jobs.find((j) => j.requestId === requestId)?.agentId;
    const deletes = stack.fake.requests().filter((r) => r.method === "DELETE" && new URL(r.path, "http://x").pathname.endsWith(`/agents/${agentId}`) && r.status < 300);
    expect(deletes).toHaveLength(1);
    latencies.push(...replacementLatenciesMs(stack.fake.requests(), [job], beforeNames));
  });

  it("should complete every job when more jobs than agents are queued, each on a fresh pod", async () => {
    const before = new Set((await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name));
    const jobs = 5;
    const ids = stack.fake.enqueueJobs(poolId, { script: "echo ran on $AGENT_NAME; sleep 2", count: jobs });
    const finished = await Promise.all(ids.map((id) => waitJobFinished(id, 420_000)));

    expect(finished.map((j) => j.result)).toEqual(Array(jobs).fill("succeeded"));
    const agentNames = finished.map((j) => j.agentName);
    expect(new Set(agentNames).size).toBe(jobs);
    await waitForSteadyPool(stack, rel, REPLICAS);
    latencies.push(...replacementLatenciesMs(stack.fake.requests(), finished, before));
    // None of the agents that ran a job is still registered.
    const registered = new Set(agentsOf(stack, rel).map((a) => a.name));
    expect(agentNames.filter((n) => registered.has(n!))).toEqual([]);
  });
});

describe("refresh", () => {
  it("should replace idle pods while a running job completes (not cancelled), leaving no stale agent", async () => {
    const before = await waitForSteadyPool(stack, rel, REPLICAS);
    const [requestId] = stack.fake.enqueueJobs(poolId, { script: "echo long job starts; sleep 25; echo long job done" });
    const running = await stack.fake.waitFor(() => {
      const job = stack.fake.job(requestId!);
      return job.state === "received" ? job : undefined;
    }, { timeoutMs: 120_000 });

    await stack.kube.ok(["-n", NS, "create", "job", `--from=cronjob/${await refreshCronJob(stack, rel)}`, "refresh-now"]);
    await waitFor("the refresh job to succeed", async () => {
      const job = await stack.kube.json<{ status: { succeeded?: number } }>(["-n", NS, "get", "job", "refresh-now"]);
      return (job.status.succeeded ?? 0) >= 1 ? true : undefined;
    });

    const done = await waitJobFinished(requestId!, 300_000);
    expect(done.result).toBe("succeeded");
    expect(done.output).toContain("long job done");
    expect(done.agentName).toBe(running.agentName);

    const after = await waitForSteadyPool(stack, rel, REPLICAS, 420_000);
    // Every pod that existed before the refresh has been replaced.
    const beforeNames = new Set(before.map((p) => p.name));
    expect(after.filter((p) => beforeNames.has(p.name))).toEqual([]);
    // Nothing stale: only the current pods are registered.
    expect(agentsOf(stack, rel).map((a) => a.name).sort()).toEqual(after.map((p) => p.name).sort());
    await stack.kube.ok(["-n", NS, "delete", "job", "refresh-now", "--ignore-not-found"]);
  });
});

describe("a job step", () => {
  it("should find neither the PAT nor a usable Kubernetes token, and should not be able to delete another agent's pod", async () => {
    await waitForSteadyPool(stack, rel, REPLICAS);
    // The step looks for a prefix of the PAT assembled at run time, so the script itself
    // never contains it.
    const prefix = E2E_PAT.slice(0, 9);
    const script = [
      "set +e",
      `needle="${prefix.slice(0, 4)}""${prefix.slice(4)}"`,
      'for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr "\\0" "\\n" < "$f" 2>/dev/null; done > "$HOME/proc.txt"',
      'echo "RESULT proc_hits=$(grep -c "$needle" "$HOME/proc.txt")"',
      'echo "RESULT file_hits=$(grep -rIl --exclude-dir=proc --exclude-dir=sys --exclude=proc.txt -e "$needle" / 2>/dev/null | wc -l)"',
      'echo "RESULT sa_dir=$(test -e /var/run/secrets/kubernetes.io/serviceaccount && echo present || echo absent)"',
      'echo "RESULT token_files=$(find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -path "*serviceaccount*" -name token -print 2>/dev/null | wc -l)"',
      'api="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"',
      `echo "RESULT list_status=$(curl -sk -o /dev/null -w '%{http_code}' "$api/api/v1/namespaces/${NS}/pods")"`,
      `echo "RESULT delete_status=$(curl -sk -o /dev/null -w '%{http_code}' -X DELETE "$api/api/v1/namespaces/${NS}/pods/$AGENT_NAME")"`,
    ].join("\n");
    const [requestId] = stack.fake.enqueueJobs(poolId, { script });
    const job = await waitJobFinished(requestId!);

    const out = job.output ?? "";
    expect(out).not.toContain(E2E_PAT);
    const result = (key: string): string | undefined => new RegExp(`RESULT ${key}=(\\S+)`).exec(out)?.[1];
    expect(result("proc_hits")).toBe("0");
    expect(result("file_hits")).toBe("0");
    expect(result("sa_dir")).toBe("absent");
    expect(result("token_files")).toBe("0");
    // Anonymous requests are refused by the API server (401/403), never 200.
    expect(["401", "403"]).toContain(result("list_status"));
    expect(["401", "403"]).toContain(result("delete_status"));
    await waitForSteadyPool(stack, rel, REPLICAS);
  });

  it("should not be able to delete a sibling pod even by name", async () => {
    const pods = await waitForSteadyPool(stack, rel, REPLICAS);
    const script = [
      "set +e",
      'api="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"',
      `for pod in ${pods.map((p) => p.name).join(" ")}; do`,
      `  [ "$pod" = "$AGENT_NAME" ] && continue`,
      `  echo "RESULT delete_$pod=$(curl -sk -o /dev/null -w '%{http_code}' -X DELETE "$api/api/v1/namespaces/${NS}/pods/$pod")"`,
      "done",
    ].join("\n");
    const [requestId] = stack.fake.enqueueJobs(poolId, { script });
    const job = await waitJobFinished(requestId!);
    const statuses = [...(job.output ?? "").matchAll(/RESULT delete_\S+=(\d+)/g)].map((m) => m[1]);
    expect(statuses).toHaveLength(REPLICAS - 1);
    for (const status of statuses) expect(["401", "403"]).toContain(status);
    // The siblings are still there (only the job's own pod is replaced).
    const siblings = pods.filter((p) => p.name !== job.agentName).map((p) => p.name);
    const now = (await stack.kube.pods(NS, agentSelector(rel))).map((p) => p.name);
    for (const sibling of siblings) expect(now).toContain(sibling);
  });
});

describe("helm upgrade and uninstall", () => {
  it("should roll every pod when the token changes, and the new pods register with the new token", async () => {
    const before = await waitForSteadyPool(stack, rel, REPLICAS);
    const newPat = `${E2E_PAT}rotated`;
    stack.fake.auth({ pats: [newPat] });
    await upgrade(stack, rel, teamValues(stack, { replicaCount: REPLICAS, azp: { token: newPat } }));
    const after = await waitForSteadyPool(stack, rel, REPLICAS, 420_000);
    const beforeNames = new Set(before.map((p) => p.name));
    expect(after.filter((p) => beforeNames.has(p.name))).toEqual([]);
    // The old PAT no longer works; the pool is healthy on the new one.
    stack.fake.auth({ revokePats: [E2E_PAT] });
    const out = await stack.kube.helmOk(["test", rel.name, "--namespace", NS, "--timeout", "5m"]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
    stack.fake.auth({ pats: [E2E_PAT] });
  });

  it("should fail helm test with a clear message when the token is wrong", async () => {
    const bad = await install(stack, "wrong-token", NS, teamValues(stack, { replicaCount: 0, azp: { token: "not-a-valid-pat" }, refresh: { enabled: false } }));
    const result = await stack.kube.helm(["test", bad.name, "--namespace", NS, "--logs", "--timeout", "3m"]);
    expect(result.code).not.toBe(0);
    // The smoke pod's own line (its log, through --logs), not just any "token": the release's
    // name is "wrong-token", and Helm prints it in every line about the test.
    expect(result.stdout + result.stderr).toContain("Azure DevOps rejected the PAT in AZP_TOKEN_FILE as invalid (HTTP 401");
    await uninstall(stack, bad);
  });

  it("should leave no registered agent behind on helm uninstall", async () => {
    await waitForSteadyPool(stack, rel, REPLICAS);
    expect(agentsOf(stack, rel)).toHaveLength(REPLICAS);
    await uninstall(stack, rel);
    await waitFor("every agent of the release to be removed from the pool", async () => (agentsOf(stack, rel).length === 0 ? true : undefined));
    await waitFor("every pod of the release to be gone", async () => ((await stack.kube.pods(NS, agentSelector(rel))).length === 0 ? true : undefined));
  });
});
