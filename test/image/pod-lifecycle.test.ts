import { describe, expect, it } from "vitest";
import { imageContract, tokenFilePath } from "../../generator/contract/image.ts";
import { AGENT_VERSION, LISTENING, PAT, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { agentDeletes, agentsInPool, imageRequests, newPod, requestsInOrder, shape } from "./support/fixtures.ts";
import { docker } from "./support/docker.ts";

/**
 * The pod's lifecycle with real containers: register → deregister (sidecar) → agent, one job,
 * de-registration, and what happens on SIGTERM, on a busy agent and on a container restart.
 * GIVEN the image with the fake agent baked in and the fake Azure DevOps on 127.0.0.1.
 */

const { stateFiles, paths } = imageContract;

let env: ImageTestEnv;
useImageEnv((e) => (env = e));

async function enqueue(script: string, displayName = "Job"): Promise<number> {
  const [id] = env.fake.enqueueJobs(env.poolId, { script, displayName });
  if (id === undefined) throw new Error("no job enqueued");
  return id;
}

async function waitForJobResult(id: number, timeoutMs = 90_000): Promise<string> {
  return env.fake.waitFor(() => env.fake.job(id).result, { timeoutMs, what: `job ${id} to finish` });
}

describe("a pod that runs one job", () => {
  it("should register, run the job, de-register and exit when the kubelet stops it", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    // The image's versions and the release are visible as capabilities next to the agent's own
    // Agent.Version (pipelines may demand AZP_RELEASE; helm test counts agents by it).
    const registered = env.fake.state().agents.find((a) => a.name === pod.name);
    expect(registered?.systemCapabilities).toMatchObject({ "Agent.Version": AGENT_VERSION, AZP_BAKED_AGENT_VERSION: AGENT_VERSION, AZP_RELEASE: pod.release });
    expect(registered?.credentials).toBe("oauth");

    // (A job of a few seconds, like any real one: the real agent takes that long to start its
    // worker alone; the fake runs a step within milliseconds of taking the job.)
    const job = await enqueue("echo hello from the job; sleep 2", "Say hello");
    expect(await waitForJobResult(job)).toBe("succeeded");
    expect(env.fake.job(job).output).toContain("hello from the job");
    expect(env.fake.job(job).agentName).toBe(pod.name);

    // Outside Kubernetes the sidecar de-registers and exits 0 by itself.
    expect((await pod.waitForExit("deregister", 60_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(pod.hint(stateFiles.removed)).toBe(true);
    await env.fake.waitFor(() => pod.hint(stateFiles.exited), { what: "azp-run to report the listener's exit" });

    // The agent container waits for the pod's deletion (SIGTERM) instead of being restarted.
    expect(await pod.running("agent")).toBe(true);
    await pod.signal("agent");
    const agentExit = await pod.waitForExit("agent", 10_000);
    expect(agentExit.exitCode).toBe(0);

    // THEN the calls came in the pod's order.
    const calls = requestsInOrder(env.fake);
    const index = (predicate: (shape: string, principal: string) => boolean): number => calls.findIndex((r) => predicate(shape(r), r.principal));
    const connection = index((s) => s === "GET /fakeorg/_apis/connectionData");
    const poolLookup = index((s, p) => s === "GET /fakeorg/_apis/distributedtask/pools" && p === "pat");
    const addAgent = index((s) => s === "POST /fakeorg/_apis/distributedtask/pools/{id}/agents");
    const session = index((s) => s === "POST /fakeorg/_apis/distributedtask/pools/{id}/sessions");
    const endSession = index((s) => s === "DELETE /fakeorg/_apis/distributedtask/pools/{id}/sessions/{id}" || s.startsWith("DELETE /fakeorg/_apis/distributedtask/pools/{id}/sessions"));
    const removal = index((s) => s === "DELETE /fakeorg/_apis/distributedtask/pools/{id}/agents/{id}");
    expect(connection).toBe(0);
    expect([connection, poolLookup, addAgent, session, endSession, removal].every((value, i, all) => value >= 0 && (i === 0 || value > (all[i - 1] ?? -1)))).toBe(true);
    // The image's own calls: register checks the PAT and the pool; the sidecar finds the pool and
    // the agent by the pod's name, disables the agent once the job is assigned, and removes it
    // once the job is over. Every call carries an api-version (the service refuses a PATCH or
    // DELETE without one).
    const own = imageRequests(env.fake);
    expect(own.slice(0, 4).map(shape)).toEqual([
      "GET /fakeorg/_apis/connectionData",
      "GET /fakeorg/_apis/distributedtask/pools",
      "GET /fakeorg/_apis/distributedtask/pools",
      "GET /fakeorg/_apis/distributedtask/pools/{id}/agents",
    ]);
    expect(own.every((r) => /[?&]api-version=\d+\.\d+(-preview(\.\d+)?)?(&|$)/.test(r.path) && r.status < 300)).toBe(true);
    const disable = own.findIndex((r) => r.method === "PATCH");
    const remove = own.findIndex((r) => r.method === "DELETE");
    expect(disable).toBeGreaterThan(3);
    expect(remove).toBeGreaterThan(disable);
    expect(own.filter((r) => r.method === "PATCH" || r.method === "DELETE").map(shape)).toEqual([
      "PATCH /fakeorg/_apis/distributedtask/pools/{id}/agents/{id}",
      "DELETE /fakeorg/_apis/distributedtask/pools/{id}/agents/{id}",
    ]);
    // Disabled while the job was still running, removed after it finished.
    const finished = Date.parse(env.fake.job(job).finishTime ?? "");
    expect(Date.parse(own[disable]?.time ?? "")).toBeLessThan(finished);
    expect(Date.parse(own[remove]?.time ?? "")).toBeGreaterThanOrEqual(finished);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
  });
});

/**
 * The job looks for the PAT everywhere it can: its own environment and that of every process it
 * can see (/proc/<pid>/environ and cmdline), every readable file under / (the state volume and
 * the agent's own files included), the Secret's mount point, and for a Kubernetes token. The
 * script carries the PAT in two halves, so the script itself never contains it.
 */
function leakHuntScript(pat: string): string {
  const half = Math.floor(pat.length / 2);
  return [
    "set +e",
    `first='${pat.slice(0, half)}'`,
    `second='${pat.slice(half)}'`,
    'needle="${first}${second}"',
    "hits=0",
    "found() { echo \"LEAK: $1\"; hits=$((hits + 1)); }",
    "pattern() { printf '%s\\n' \"$needle\"; }",
    "seen=0",
    "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do",
    "  if cat \"$f\" >/dev/null 2>&1; then seen=$((seen + 1)); fi",
    "  if grep -qaF -f <(pattern) \"$f\" 2>/dev/null; then found \"$f\"; fi",
    "done",
    'echo "process files readable: ${seen}"',
    "while IFS= read -r f; do found \"$f\"; done < <(grep -rlaF -f <(pattern) --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev / 2>/dev/null)",
    "if env | grep -qaF -f <(pattern); then found 'step environment'; fi",
    `ls -la ${paths.state}`,
    `for p in ${tokenFilePath} ${paths.serviceAccount}/token /run/secrets/kubernetes.io/serviceaccount/token; do`,
    '  if [ -e "$p" ]; then echo "PRESENT: $p"; else echo "absent: $p"; fi',
    "done",
    'echo "SCAN-DONE hits=${hits}"',
  ].join("\n");
}

describe("a job running on the agent", () => {
  it("should find neither the PAT nor a Kubernetes token, and no volume should hold the PAT", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    const job = await enqueue(leakHuntScript(PAT), "Hunt for secrets");
    expect(await waitForJobResult(job, 240_000)).toBe("succeeded");
    const output = env.fake.job(job).output ?? "";
    expect(output).toContain("SCAN-DONE hits=0");
    expect(output).not.toContain("LEAK:");
    expect(output).toMatch(/process files readable: [1-9]/);
    expect(output).toContain(`absent: ${tokenFilePath}`);
    expect(output).toContain(`absent: ${paths.serviceAccount}/token`);
    expect(output).not.toContain(PAT);

    // After the job: no volume of the pod holds the PAT (the register container had it).
    const scan = await pod.inspectVolumes("grep -rlaF -f - /pod; echo scanned", `${PAT}\n`);
    expect(scan.code).toBe(0);
    expect(scan.output).toBe("scanned\n");
  });
});

describe("SIGTERM (the pod is deleted or rolled)", () => {
  it("should stop an idle agent within seconds and de-register it", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    await pod.signal("agent");
    const agentExit = await pod.waitForExit("agent", 15_000);
    expect(agentExit.exitCode).toBe(0);
    expect(agentExit.waitedMs).toBeLessThan(10_000);
    expect(await pod.logs("agent")).toContain("SIGTERM while idle: stopping the agent");

    // The kubelet stops the sidecar after the job container; here it may already be done.
    await pod.signal("deregister");
    expect((await pod.waitForExit("deregister", 15_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(env.fake.state().sessions).toEqual([]);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
  });

  it("should let a running job finish (not cancel it), then exit and de-register", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    const job = await enqueue("echo started; sleep 6; echo finished-after-sigterm", "Long job");
    await pod.waitForLog("agent", "Running job: Long job");
    await pod.signal("agent");
    await pod.waitForLog("agent", "letting it finish");

    expect(await waitForJobResult(job)).toBe("succeeded");
    expect(env.fake.job(job).output).toContain("finished-after-sigterm");
    expect(env.fake.job(job).cancelRequested).toBe(false);
    // SIGTERM was received already: the container exits once run.sh is done, no second signal.
    expect((await pod.waitForExit("agent", 30_000)).exitCode).toBe(0);
    expect((await pod.waitForExit("deregister", 30_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
  });

  it("should wait for a running job on its own SIGTERM rather than try to remove a busy agent, and remove it exactly once", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    const job = await enqueue("sleep 5; echo job-done", "Busy job");
    await pod.waitForLog("agent", "Running job: Busy job");
    // Only possible outside Kubernetes (a native sidecar is stopped after the job container):
    // the sidecar is told to clean up while the job still runs. Azure DevOps says the job is
    // assigned, so it waits for its end.
    await pod.signal("deregister");
    await pod.waitForLog("deregister", "assigned job request");

    expect(await waitForJobResult(job)).toBe("succeeded");
    expect((await pod.waitForExit("deregister", 60_000)).exitCode).toBe(0);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);

    // A second SIGTERM (the kubelet's) changes nothing: cleanup ran exactly once.
    await pod.signal("agent");
    expect((await pod.waitForExit("agent", 30_000)).exitCode).toBe(0);
    expect(agentDeletes(env.fake).filter((r) => r.status === 204)).toHaveLength(1);
  });
});

describe("a restarted agent container (crash, OOM kill)", () => {
  it("should not take a second job, report the agent as exited and let the sidecar clean up", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    await pod.signal("agent", "KILL");
    await pod.waitForExit("agent", 15_000);
    await docker(["start", pod.containerName("agent")]);
    await pod.waitForLog("agent", "not starting a second listener");
    // The hint follows that log line: wait for it rather than race it.
    await env.fake.waitFor(() => pod.hint(stateFiles.exited) || undefined, { timeoutMs: 10_000, what: "the exited hint" });

    expect((await pod.waitForExit("deregister", 30_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    // No agent of the pool matches any more, so Azure DevOps would fail the job at once; kept
    // queued here (the fake's per-job override) to show that no listener of this pod takes it.
    const [job] = env.fake.enqueueJobs(env.poolId, { script: "echo should-never-run", displayName: "Never", whenNoAgentMatches: "queue" });
    if (job === undefined) throw new Error("no job enqueued");

    // Only once the restarted container has lived and exited can "still queued" mean anything.
    await pod.signal("agent");
    expect((await pod.waitForExit("agent", 10_000)).exitCode).toBe(0);
    expect(env.fake.job(job)).toMatchObject({ state: "queued", agentName: null });
    expect(await pod.logs("agent")).not.toContain("Running job: Never");
  });
});

describe("maximum agent lifetime (AZP_MAX_LIFETIME_SECONDS)", () => {
  const lifetime = (seconds: number): Record<string, string> => ({ [imageContract.env.maxLifetimeSeconds.name]: String(seconds) });

  it("should retire an idle agent once it is older than the lifetime: disabled, removed, and the listener stopped", async () => {
    // 4 s: the jitter (up to a fifth, whole seconds) is 0, so it retires after exactly 4 s.
    const pod = newPod(env, { env: { deregister: lifetime(4) } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    const registeredAt = Date.now();

    expect((await pod.waitForExit("deregister", 30_000)).exitCode).toBe(0);
    const log = await pod.logs("deregister");
    expect(log).toContain("retires when idle after 4s");
    expect(log).toContain("it gets no job any more");
    expect(log).toContain("reached its maximum lifetime idle: removing it");
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    // Disabled before it was removed: no job could slip in between.
    const calls = imageRequests(env.fake).filter((r) => r.method !== "GET").map((r) => r.method);
    expect(calls.slice(-2)).toEqual(["PATCH", "DELETE"]);
    expect(Date.now() - registeredAt).toBeGreaterThan(2_000);

    // The agent's container stops at the pod's SIGTERM (in Kubernetes the sidecar deletes the pod).
    await pod.signal("agent");
    expect((await pod.waitForExit("agent", 15_000)).exitCode).toBe(0);
  });

  it("should let a busy agent finish its job first, then remove it", async () => {
    const pod = newPod(env, { env: { deregister: lifetime(4) } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    const job = await enqueue("echo long; sleep 8; echo finished", "Long");

    expect(await waitForJobResult(job)).toBe("succeeded");
    expect(env.fake.job(job).output).toContain("finished");
    expect((await pod.waitForExit("deregister", 30_000)).exitCode).toBe(0);
    const log = await pod.logs("deregister");
    expect(log).not.toContain("reached its maximum lifetime");
    expect(log).toContain(`job request ${job} of agent`);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    await pod.signal("agent");
    await pod.waitForExit("agent", 15_000);
  });
});
