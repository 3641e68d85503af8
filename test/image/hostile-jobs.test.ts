import { createPrivateKey } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { agentEnv, extractPackage, makeTempDir, startAgentScript } from "../fake-agent/harness.ts";
import type { RunningProcess } from "../support/process.ts";
import { clientAssertion, jobFinished } from "../fake-ado/test-client.ts";
import type { JobView } from "../fake-ado/control.ts";
import { repoPath } from "../support/repo.ts";
import { docker } from "./support/docker.ts";
import { LISTENING, PAT, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { agentDeletes, agentsInPool, newPod } from "./support/fixtures.ts";
import type { FakePod } from "./support/pod.ts";

/**
 * Jobs that attack the pod they run in (issue #7), in real containers against the fake Azure
 * DevOps. A job shares its container and user with the listener: it can rewrite the state
 * volume, signal every process it sees, leave processes behind and read the agent's credential
 * files. Whatever it does: the PAT shows up in no log, the agent is disabled while its one job
 * runs and removed once it is over, no second job ever reaches it, and its stolen credential
 * stops working with it. The job-finished → agent-removed times are written to
 * .cache/test-results/hostile-removal.json (measured, not asserted).
 */

const { stateFiles, paths } = imageContract;
/** Short job locks, so that a job whose listener was killed is abandoned within the test. */
const JOB_LOCK_MS = 15_000;
/** The simulated pod's AZP_STATUS_CHECK_SECONDS (support/pod.ts): the sidecar's regular look while a job runs. */
const STATUS_CHECK_MS = 5_000;

let env: ImageTestEnv;
useImageEnv((e) => (env = e), { jobLockMs: JOB_LOCK_MS });

interface Sample {
  case: string;
  /** Job finished (Azure DevOps' finishTime) → the agent's DELETE answered 204, in ms. */
  removedAfterMs: number;
}
const samples: Sample[] = [];
afterAll(() => {
  const dir = repoPath(".cache", "test-results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "hostile-removal.json"), `${JSON.stringify(samples, null, 2)}\n`);
  if (samples.length > 0) console.log(samples.map((s) => `${s.case}: removed ${s.removedAfterMs} ms after the job finished`).join("\n"));
});

async function enqueue(script: string, options: { displayName?: string; variables?: Record<string, string> } = {}): Promise<number> {
  const [id] = env.fake.enqueueJobs(env.poolId, { script, displayName: options.displayName ?? "Hostile", ...(options.variables ? { variables: options.variables } : {}) });
  if (id === undefined) throw new Error("no job enqueued");
  return id;
}

const finished = (id: number, timeoutMs = 120_000): Promise<JobView> => jobFinished(env.fake, id, timeoutMs);

/** Waits until the agent is gone from the pool and the sidecar has exited 0 (outside Kubernetes it exits once done). */
async function removed(pod: FakePod, job: JobView, label: string, timeoutMs: number): Promise<void> {
  expect((await pod.waitForExit("deregister", timeoutMs)).exitCode).toBe(0);
  expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
  const deletes = agentDeletes(env.fake);
  expect(deletes.map((d) => d.status)).toEqual([204]);
  const removedAt = Date.parse(deletes[0]?.time ?? "");
  const finishedAt = Date.parse(job.finishTime ?? "");
  // Never before its one job was over.
  expect(removedAt).toBeGreaterThanOrEqual(finishedAt);
  samples.push({ case: label, removedAfterMs: removedAt - finishedAt });
}

/** The PAT appears nowhere a job or a log reader could find it. */
async function expectNoPatAnywhere(pod: FakePod): Promise<void> {
  expect(await pod.allLogs()).not.toContain(PAT);
  expect(JSON.stringify(env.fake.state())).not.toContain(PAT);
  // Every PAT-authenticated call came from the image or the agent's configuration, none from a job.
  const patCallers = new Set(env.fake.requests().filter((r) => r.principal === "pat").map((r) => (r.userAgent ?? "").split("/")[0]));
  expect([...patCallers].every((ua) => ua === "azp-agent-image" || ua === "VSServices")).toBe(true);
}

/** Pod deletion: the kubelet stops the job container, then the sidecar. */
async function deletePod(pod: FakePod, boundMs: number): Promise<number> {
  const started = Date.now();
  await pod.signal("agent");
  expect((await pod.waitForExit("agent", boundMs)).exitCode).toBe(0);
  return Date.now() - started;
}

async function startedPod(options: Parameters<typeof newPod>[1] = {}): Promise<FakePod> {
  const pod = newPod(env, options);
  await pod.start();
  await pod.waitForLog("agent", LISTENING);
  return pod;
}

describe("a job that plants symlinks and FIFOs at every hint path", () => {
  it("should neither leak the PAT nor stall the sidecar: the agent is removed once the job is over", async () => {
    const pod = await startedPod();
    const names = [stateFiles.started, stateFiles.exited, stateFiles.busy, stateFiles.removed, "registration.json", "deregister-ready"];
    const job = await enqueue(
      [
        "set +e",
        `cd ${paths.state}`,
        `rm -f ${names.join(" ")}`,
        `ln -s ${paths.secrets}/token ${stateFiles.exited}`,
        `ln -s ${paths.secrets}/token registration.json`,
        `ln -s ${paths.serviceAccount}/token deregister-ready`,
        `mkfifo ${stateFiles.busy} ${stateFiles.removed} ${stateFiles.started}`,
        "ls -la .",
        "sleep 3",
        "echo planted",
      ].join("\n"),
    );
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    await removed(pod, result, "symlinks and FIFOs at the hints", STATUS_CHECK_MS + 10_000);
    await expectNoPatAnywhere(pod);
    // The sidecar set its own hint by replacing the FIFO (rename), without opening it.
    expect(statSync(join(pod.volumeDir(imageContract.volumes.state), stateFiles.removed)).isFile()).toBe(true);
    expect(await deletePod(pod, 15_000)).toBeLessThan(15_000);
  });
});

describe("a job in a KEDA Job's pod (lifecycle complete) that forges agent-removed and plants FIFOs", () => {
  it("should not stop the sidecar, keep the agent until Azure DevOps says the job is over, and let the pod complete", async () => {
    const complete = { [imageContract.env.podLifecycle.name]: "complete" };
    const pod = await startedPod({ env: { deregister: complete, agent: complete } });
    const job = await enqueue(
      [
        "set +e",
        `cd ${paths.state}`,
        `rm -f ${stateFiles.busy} ${stateFiles.removed} ${stateFiles.exited}`,
        // "The agent is gone, nothing runs": azp-run may stop this job's own listener; the sidecar decides on Azure DevOps.
        `touch ${stateFiles.removed}`,
        `mkfifo ${stateFiles.busy} ${stateFiles.exited}`,
        "sleep 4",
        "echo forged",
      ].join("\n"),
    );
    const result = await finished(job);
    // Whether the job ran to its end or its own listener was stopped, the agent is removed only
    // after Azure DevOps has the job finished, and the readiness record stays the sidecar's own file.
    await env.fake.waitFor(() => agentsInPool(env.fake, env.poolId).length === 0 || undefined, { timeoutMs: STATUS_CHECK_MS + 20_000, what: "the agent's removal" });
    expect(Date.parse(agentDeletes(env.fake)[0]?.time ?? "")).toBeGreaterThanOrEqual(Date.parse(result.finishTime ?? ""));
    expect(statSync(join(pod.volumeDir(imageContract.volumes.registrarTmp), imageContract.sidecarFiles.request)).isFile()).toBe(true);
    // The job container completes by itself; the sidecar is still there, waiting for the kubelet.
    expect((await pod.waitForExit("agent", 60_000)).exitCode).toBe(0);
    expect(await pod.running("deregister")).toBe(true);
    await pod.signal("deregister");
    expect((await pod.waitForExit("deregister", 15_000)).exitCode).toBe(0);
    await expectNoPatAnywhere(pod);
  });
});

describe("a job that forges the hints", () => {
  it("should not get its agent removed while it still runs (Azure DevOps says it is busy)", async () => {
    const pod = await startedPod();
    const job = await enqueue(`touch ${paths.state}/${stateFiles.exited}; rm -f ${paths.state}/${stateFiles.busy}; sleep 6; echo done`);
    await pod.waitForLog("agent", "Running job: Hostile");
    // Mid-job: still registered, already disabled, not a single removal attempt.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(env.fake.job(job).state).not.toBe("finished");
    expect(env.fake.state().agents.find((a) => a.name === pod.name)?.enabled).toBe(false);
    expect(agentDeletes(env.fake)).toEqual([]);
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    await removed(pod, result, "forged hints", STATUS_CHECK_MS + 10_000);
    await expectNoPatAnywhere(pod);
  });
});

describe("a job that leaves a process behind (process.clean: false, setsid)", () => {
  it("should have it killed when the listener is done, without delaying the removal", async () => {
    const pod = await startedPod();
    const job = await enqueue(
      `setsid bash -c 'while true; do date +%s%N > ${paths.work}/alive; sleep 0.2; done' </dev/null >/dev/null 2>&1 &\necho left-behind`,
      { variables: { "process.clean": "false" } },
    );
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    await removed(pod, result, "process left behind", STATUS_CHECK_MS + 10_000);
    // The agent's own cleanup was off: azp-run killed the leftover once run.sh was done.
    const top = await docker(["top", pod.containerName("agent"), "-eo", "pid,args"]);
    expect(top.stdout).not.toContain("while true");
    const alive = join(pod.volumeDir(imageContract.volumes.work), "alive");
    const before = readFileSync(alive, "utf8");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(readFileSync(alive, "utf8")).toBe(before);
    await expectNoPatAnywhere(pod);
  });
});

describe("a job that steals the agent's credential files and runs its own listener with them", () => {
  it("should get no second job to it, and the credential should be dead once the pod's agent is removed", async () => {
    const pod = await startedPod();
    const stolenDir = `${paths.work}/stolen`;
    const job = await enqueue(`mkdir -p ${stolenDir} && cp ${paths.agentHome}/.agent ${paths.agentHome}/.credentials ${paths.agentHome}/.credentials_rsaparams ${stolenDir}/ && echo copied\nsleep 8\necho done`);
    // The thief's copy, as it would leave the pod.
    const stolen = join(pod.volumeDir(imageContract.volumes.work), "stolen");
    await env.fake.waitFor(() => existsSync(join(stolen, ".credentials_rsaparams")), { timeoutMs: 60_000, what: "the stolen files" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const credentials = JSON.parse(readFileSync(join(stolen, ".credentials"), "utf8")) as { data: { clientId: string; authorizationUrl: string } };
    const exchange = async (): Promise<number> => {
      const key = { privateKey: createPrivateKey(readFileSync(join(stolen, ".credentials_rsaparams"))), publicKey: { exponent: "", modulus: "" } };
      const form = new URLSearchParams({
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: clientAssertion(key, credentials.data.clientId, credentials.data.authorizationUrl),
      });
      return (await fetch(credentials.data.authorizationUrl, { method: "POST", body: form })).status;
    };
    // While the job runs the credential is live: this is what a thief holds.
    expect(await exchange()).toBe(200);

    // WHEN the thief runs a listener of its own with the files, and another job is queued
    const thief = await makeTempDir("azp-thief-");
    let listener: RunningProcess | undefined;
    try {
      await extractPackage(env.pkg.file, thief.path);
      for (const file of [".agent", ".credentials", ".credentials_rsaparams"]) copyFileSync(join(stolen, file), join(thief.path, file));
      listener = startAgentScript(thief.path, "bin/Agent.Listener", ["run", "--once"], agentEnv({ FAKE_AGENT_SESSION_CONFLICT_TIMEOUT_SECONDS: "120" }));
      const second = await enqueue("echo secrets of another pipeline", { displayName: "Victim" });
      const first = await finished(job);
      expect(first.result).toBe("succeeded");
      await removed(pod, first, "stolen credential + own listener", STATUS_CHECK_MS + 10_000);

      // THEN the second job never reached this agent, and the stolen credential is dead
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(env.fake.job(second)).toMatchObject({ state: "queued", agentName: null });
      expect(await exchange()).toBe(401);
      const thiefResult = await listener.exited;
      expect(thiefResult.code).not.toBe(0);
      expect(thiefResult.stdout).not.toContain("Running job: Victim");
      await expectNoPatAnywhere(pod);
    } finally {
      listener?.signal("SIGKILL");
      await thief.remove();
    }
  });
});

describe("a job that kills every process it can see", () => {
  it("should not keep its agent: removed once Azure DevOps abandons the job (its lock expired)", async () => {
    const pod = await startedPod();
    const job = await enqueue("echo bye; sleep 1; kill -9 -1");
    const second = await enqueue("echo must not run here", { displayName: "Victim" });
    const result = await finished(job, JOB_LOCK_MS + 60_000);
    expect(result.result).toBe("abandoned");
    await removed(pod, result, "kill -9 -1 (job abandoned)", STATUS_CHECK_MS + 10_000);
    expect(env.fake.job(second).state).toBe("queued");
    await expectNoPatAnywhere(pod);
    expect(await deletePod(pod, 10_000)).toBeLessThan(10_000);
  });
});

describe("a job that runs past the pod's grace period", () => {
  it("should be cancelled before the grace period ends, so that its agent is still removed", async () => {
    // The smallest grace period the chart accepts: the job is cancelled after 10 s, the real
    // listener's cancellation takes about 10 s, which leaves 10 s for reporting and removal.
    const grace = 30;
    const pod = await startedPod({ env: { agent: { [imageContract.env.stopGraceSeconds.name]: String(grace) } } });
    const job = await enqueue("trap '' TERM INT; echo stubborn; sleep 600");
    await pod.waitForLog("agent", "Running job: Hostile");
    // WHEN the pod is deleted (the kubelet's SIGTERM to the job container)
    const stopped = await deletePod(pod, grace * 1000);
    // THEN the job container ended within the grace period, the job was cancelled
    expect(stopped).toBeLessThan(grace * 1000);
    const result = await finished(job, 5000);
    expect(result.result).toBe("canceled");
    expect(await pod.logs("agent")).toContain("close to the end of the grace period: cancelling it");
    // The kubelet then stops the sidecar, which removes the agent before the grace period ends.
    await pod.signal("deregister");
    await removed(pod, result, "past the grace period (cancelled)", grace * 1000 - stopped);
    await expectNoPatAnywhere(pod);
  });
});

describe("a listener that hangs after its job (azure-pipelines-agent#5563)", () => {
  it("should not hold the agent or the pod: removed at once, the container stops within seconds", async () => {
    const pod = await startedPod({ env: { agent: { FAKE_AGENT_HANG_AFTER_SESSION_DELETE: "1" } } });
    const job = await enqueue("sleep 2; echo ok");
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    await removed(pod, result, "listener hangs after the job", STATUS_CHECK_MS + 10_000);
    expect(await pod.running("agent")).toBe(true);
    expect(await deletePod(pod, 15_000)).toBeLessThan(15_000);
    expect(await pod.logs("agent")).toContain("did not stop within 3s of SIGTERM: killing them");
  });
});

describe("a pod whose user set a locale", () => {
  it("should still see the job start in the listener's console (fixed C locale) and disable the agent while it runs", async () => {
    const pod = await startedPod({ env: { agent: { LC_ALL: "de_DE.UTF-8", LANG: "de_DE.UTF-8" } } });
    const job = await enqueue("sleep 3; echo ok");
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    const disable = env.fake.requests().find((r) => r.method === "PATCH" && r.path.includes("/agents/"));
    expect(Date.parse(disable?.time ?? "")).toBeLessThan(Date.parse(result.finishTime ?? ""));
    await removed(pod, result, "user locale de_DE", STATUS_CHECK_MS + 10_000);
  });
});

describe("an ordinary job (for comparison)", () => {
  it("should be removed as soon as it is over", async () => {
    const pod = await startedPod();
    const job = await enqueue("sleep 2; echo ok", { displayName: "Ordinary" });
    const result = await finished(job);
    expect(result.result).toBe("succeeded");
    await removed(pod, result, "ordinary job", STATUS_CHECK_MS + 10_000);
    await expectNoPatAnywhere(pod);
  });
});
