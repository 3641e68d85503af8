import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { AGENT_VERSION, LISTENING, PAT, UNKNOWN_PAT, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { agentDeletes, agentsInPool, imageRequests, newPod, releaseCommandEnv } from "./support/fixtures.ts";
import { runOneShot } from "./support/pod.ts";
import { poll } from "../support/poll.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * Autoscaling (issue #9) with real containers: the agent pod of a KEDA Job
 * (AZP_POD_LIFECYCLE=complete) runs one job and completes by itself: no Kubernetes token, no
 * pod deletion; an agent without a job retires after its idle timeout unless it is one of the
 * minReplicas idle agents; and azp-placeholder registers and removes the release's offline
 * placeholder agent. GIVEN the image with the fake agent baked in and the fake Azure DevOps.
 */

const { env: names, commands, sidecarFiles, volumes } = imageContract;
const complete = { [names.podLifecycle.name]: "complete" };

let env: ImageTestEnv;
useImageEnv((e) => (env = e));

describe("a Job's agent pod (lifecycle complete)", () => {
  it("should run one job, remove the agent, and end its job container with 0 by itself; the sidecar waits for SIGTERM", async () => {
    const pod = newPod(env, { env: { deregister: complete, agent: complete } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    // The file the sidecar's readinessProbe looks for (KEDA counts a pod without it as pending),
    // in the sidecar's private /tmp: absent while the agent waits for a job.
    const assigned = join(pod.volumeDir(volumes.registrarTmp), sidecarFiles.request);
    expect(existsSync(assigned)).toBe(false);

    const [id] = env.fake.enqueueJobs(env.poolId, { script: "echo one job; sleep 2" });
    await poll(() => existsSync(assigned), { what: "the sidecar to record the assigned job", timeoutMs: 30_000 });
    expect(env.fake.job(id!).state).not.toBe("finished");
    expect(await env.fake.waitFor(() => env.fake.job(id!).result, { timeoutMs: 90_000 })).toBe("succeeded");

    // No SIGTERM: the job container ends by itself once the sidecar removed the agent.
    expect((await pod.waitForExit("agent", 60_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    expect(await pod.logs("agent")).toContain("the agent is removed: exiting (the pod completes)");

    // The sidecar neither exits (it would be restarted) nor touches Kubernetes: it waits for the kubelet.
    expect(await pod.running("deregister")).toBe(true);
    expect(await pod.logs("deregister")).toContain("waiting for the job container to exit");
    await pod.signal("deregister");
    expect((await pod.waitForExit("deregister", 15_000)).exitCode).toBe(0);
  });

  it("should retire an agent that got no job within the idle timeout: disabled, removed, the listener stopped, the pod completed", async () => {
    const idle = { ...complete, [names.idleTimeoutSeconds.name]: "3", [names.minIdleAgents.name]: "0" };
    const pod = newPod(env, { env: { deregister: idle, agent: complete } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    expect((await pod.waitForExit("agent", 60_000)).exitCode).toBe(0);
    const log = await pod.logs("deregister");
    expect(log).toContain("had no job for 3s (AZP_IDLE_TIMEOUT_SECONDS)");
    expect(log).toContain("it gets no job any more");
    expect(await pod.logs("agent")).toContain("the deregister sidecar removed the idle agent: stopping it");
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    // Disabled before it was removed: no job could slip in between.
    expect(imageRequests(env.fake).filter((r) => r.method !== "GET").map((r) => r.method).slice(-2)).toEqual(["PATCH", "DELETE"]);
    await pod.signal("deregister");
    await pod.waitForExit("deregister", 15_000);
  });

  it("should keep an idle agent past the timeout while no more than AZP_MIN_IDLE_AGENTS idle agents of the release are online", async () => {
    const release = `azp-keda/${randomBytes(2).toString("hex")}-azp-agent`;
    const keep = { ...complete, [names.idleTimeoutSeconds.name]: "3", [names.minIdleAgents.name]: "1" };
    const pod = newPod(env, { release, env: { deregister: keep, agent: complete } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);

    await pod.waitForLog("deregister", "it stays: 1 idle agent(s) of the release are online, 1 are kept", 30_000);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([pod.name]);
    expect(await pod.running("agent")).toBe(true);

    // A second idle agent of the release: now one of them is surplus, and the newer one retires.
    const second = newPod(env, { release, env: { deregister: keep, agent: complete } });
    await second.start();
    await second.waitForLog("agent", LISTENING);
    await env.fake.waitFor(() => agentsInPool(env.fake, env.poolId).length === 1 || undefined, { timeoutMs: 60_000, what: "one of two idle agents to retire" });
    expect((await second.waitForExit("agent", 30_000)).exitCode).toBe(0);
    // The kept one stays past further timeouts (both looked at least twice more by then).
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    expect(agentsInPool(env.fake, env.poolId)).toEqual([pod.name]);
    expect(await pod.running("agent")).toBe(true);
    for (const p of [pod, second]) {
      await p.signal("agent");
      await p.signal("deregister");
    }
  });
});

describe("azp-placeholder", () => {
  const release = "azp-keda/team-a-azp-agent";
  const name = "azp-keda-team-a-azp-agent-placeholder-0123abcd";
  const run = (action: string, options: { token?: string; capabilities?: string } = {}) =>
    runOneShot({
      image: env.image,
      command: commands.placeholder,
      token: options.token ?? PAT,
      env: {
        ...releaseCommandEnv(env.fake, release),
        [names.placeholderAgent.name]: name,
        [names.placeholderCapabilities.name]: options.capabilities ?? '{"TEAM":"a"}',
      },
      args: [action],
    });
  const placeholder = () => env.fake.state().agents.find((a) => a.name === name);

  it("should register an offline agent carrying the release's capabilities, update them, and remove it", async () => {
    const created = await run("ensure");
    expect(created.code, created.output).toBe(0);
    expect(created.stdout).toContain(`placeholder agent '${name}'`);
    expect(created.stdout).toContain(": created;");
    const agent = placeholder();
    expect(agent?.status).toBe("offline");
    // Exactly what the chart offers KEDA as demands, and Agent.Version (every job demands it; KEDA ignores it).
    expect(agent?.systemCapabilities).toEqual({ AZP_RELEASE: release, TEAM: "a", ...imageContract.placeholderSystemCapabilities, "Agent.Version": AGENT_VERSION });
    // A job demanding the release now queues instead of failing at once.
    const queued = env.fake.enqueue(env.poolId, { script: "true", demands: [`AZP_RELEASE -equals ${release}`, "TEAM -equals a"] });
    expect(queued.outcome).toBe("queued");
    env.fake.cancelJob(queued.requestIds[0]!);

    expect((await run("ensure")).stdout).toContain(": unchanged;");
    const updated = await run("ensure", { capabilities: '{"TEAM":"a","dotnet":"8.0"}' });
    expect(updated.stdout).toContain(": updated;");
    expect(placeholder()?.id).toBe(agent?.id);
    expect(placeholder()?.systemCapabilities["dotnet"]).toBe("8.0");

    const removed = await run("remove");
    expect(removed.code, removed.output).toBe(0);
    expect(removed.stdout).toContain(": removed");
    expect(placeholder()).toBeUndefined();
    expect((await run("remove")).stdout).toContain(": absent");
  });

  it("should fail to ensure with the PAT's problem when Azure DevOps rejects the token, but never fail an uninstall", async () => {
    const r = await run("ensure", { token: UNKNOWN_PAT });
    expect(r.code).toBe(EXIT.auth);
    expect(r.output).toContain("Azure DevOps rejected the PAT in AZP_TOKEN_FILE as invalid");
    expect(placeholder()).toBeUndefined();
    // Helm aborts an uninstall whose pre-delete hook fails: removal says what to do by hand instead.
    const removal = await run("remove", { token: UNKNOWN_PAT });
    expect(removal.code, removal.output).toBe(0);
    expect(removal.output).toContain(`could not remove the placeholder agent '${name}'`);
  });

  it("should never take over or remove an agent of its name that belongs to another release", async () => {
    const other = newPod(env, { name, release: "azp-keda/someone-else" });
    expect((await other.register()).exitCode).toBe(0);
    const r = await run("ensure");
    expect(r.code).toBe(EXIT.rejected);
    expect(r.output).toContain(`has an agent named '${name}'`);
    expect(r.output).toContain("is not the placeholder of release");
    expect((await run("remove")).code).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([name]);
  });

  it("should refuse an unknown action", async () => {
    const r = await run("create");
    expect(r.code).toBe(EXIT.settings);
    expect(r.output).toContain("usage: azp-placeholder ensure|remove");
  });
});
