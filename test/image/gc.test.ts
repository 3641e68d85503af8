import { randomBytes } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { API, basic, call, obj, openSession, poll, registerAgent } from "../fake-ado/test-client.ts";
import { EXPIRED_PAT, PAT, UNKNOWN_PAT, type ImageTestEnv } from "./support/environment.ts";
import type { FakeKube } from "./support/fake-kube.ts";
import { agentDeletes, agentsInPool, releaseCommandEnv } from "./support/fixtures.ts";
import { useFakeKube, useImageEnv } from "./support/hooks.ts";
import { runOneShot } from "./support/pod.ts";
import type { RunResult } from "../support/process.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * azp-gc, the garbage-collection CronJob (issue #8): against the fake Azure DevOps and a fake
 * Kubernetes API, it removes exactly this release's agents that no pod will remove — orphans (no
 * pod of their name) and agents left behind after their job (their pod's sidecar was cut off) —
 * and nothing else: not a busy agent, not an agent whose pod exists and has not run a job, not
 * another release's agent, not an agent without the capability.
 */

const { env: names, commands } = imageContract;
const AUTH = basic("user", PAT);

let env: ImageTestEnv;
let kube: FakeKube;
let release: string;
useImageEnv((e) => (env = e));
useFakeKube((k) => (kube = k));
beforeEach(() => {
  release = `${kube.namespace}/${randomBytes(2).toString("hex")}-azp-agent`;
});

function gc(options: { token?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return runOneShot({
    image: env.image,
    command: commands.gc,
    token: options.token ?? PAT,
    env: {
      ...releaseCommandEnv(env.fake, release),
      [names.podNamespace.name]: kube.namespace,
      [names.gcOfflineGrace.name]: "0",
      ...options.env,
    },
    dockerArgs: kube.dockerArgs(),
  });
}

const podName = (): string => `x-azp-agent-${randomBytes(4).toString("hex")}-${randomBytes(3).toString("hex").slice(0, 5)}`;

/** An agent registered like the chart's register container does: named after a pod, with the release capability. */
async function agent(options: { owner?: string | null; pod?: "present" | "absent"; name?: string } = {}): Promise<{ id: number; name: string }> {
  const name = options.name ?? podName();
  const owner = options.owner === undefined ? release : options.owner;
  const capabilities: Record<string, string> = owner === null ? {} : { [names.release.name]: owner };
  const { agent: created } = await registerAgent(env.fake, env.poolId, name, AUTH, undefined, capabilities);
  if ((options.pod ?? "absent") === "absent") kube.absentPods.add(name);
  else kube.podReleases.set(name, owner ?? "");
  return { id: Number(created["id"]), name };
}

/** Opens a session for the agent (online) and, with `job`, hands it a job that demands it. */
async function online(a: { id: number; name: string }, job = false): Promise<number | undefined> {
  const session = obj((await openSession(env.fake, env.poolId, a.id, AUTH)).body);
  if (!job) return undefined;
  const [requestId] = env.fake.enqueueJobs(env.poolId, { script: "sleep 600", demands: [`Agent.Name -equals ${a.name}`] });
  const message = await poll(env.fake, env.poolId, String(session["sessionId"]), AUTH);
  expect(message.status).toBe(200);
  return requestId;
}

async function disable(a: { id: number }): Promise<void> {
  const r = await call(env.fake, `/_apis/distributedtask/pools/${env.poolId}/agents/${a.id}`, { method: "PATCH", auth: AUTH, apiVersion: API.ga, json: { id: a.id, enabled: false } });
  expect(r.status).toBe(200);
}

const inPool = (): string[] => agentsInPool(env.fake, env.poolId).sort();
const deletes = (): string[] => agentDeletes(env.fake).map((r) => r.path);

describe("azp-gc removes what no pod will remove", () => {
  it("should remove this release's offline agents without a pod, and keep everything else", async () => {
    // GIVEN orphans (offline, no pod) and agents it must not touch
    const orphan1 = await agent();
    const orphan2 = await agent();
    const idleWithPod = await agent({ pod: "present" });
    await online(idleWithPod);
    const busyOrphan = await agent();
    await online(busyOrphan, true);
    const otherRelease = await agent({ owner: `${kube.namespace}/other-azp-agent` });
    const notFromTheChart = await agent({ owner: null, name: "build-server-01" });

    // WHEN the collector runs
    const r = await gc();

    // THEN exactly the orphans are gone, each decision in one line
    expect(r.code, r.output).toBe(0);
    expect(inPool()).toEqual([idleWithPod.name, busyOrphan.name, otherRelease.name, notFromTheChart.name].sort());
    expect(deletes()).toHaveLength(2);
    for (const o of [orphan1, orphan2]) expect(r.stdout).toMatch(new RegExp(`removed agent ${o.id} '${o.name}': offline for \\d+s, no job assigned, no pod '${o.name}' in namespace ${kube.namespace}`));
    expect(r.stdout).toContain(`kept agent ${idleWithPod.id} '${idleWithPod.name}': online, and its pod exists`);
    expect(r.stdout).toMatch(new RegExp(`kept agent ${busyOrphan.id} '${busyOrphan.name}': job request \\d+ is assigned to it`));
    expect(r.stdout).not.toContain(otherRelease.name);
    expect(r.stdout).not.toContain(notFromTheChart.name);
    expect(r.stdout).toContain(`done: 2 removed, 0 would be removed, 2 kept, 0 failed; 0 other agent(s) in the answer left alone`);
    // The service filters the list to the release's agents (demands), the image filters again.
    expect(env.fake.requests().some((q) => q.path.includes(`demands=${encodeURIComponent(`AZP_RELEASE -equals ${release}`)}`))).toBe(true);
    // Every Azure DevOps call of the collector carries an api-version; the Kubernetes API is asked only by name.
    const calls = env.fake.requests().filter((q) => (q.userAgent ?? "").startsWith("azp-agent-image/"));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((q) => !/[?&]api-version=/.test(q.path))).toEqual([]);
    expect(kube.requests.every((q) => q.method === "GET" && q.path.startsWith(`/api/v1/namespaces/${kube.namespace}/pods/`))).toBe(true);
  });

  it("should remove a used agent that is online while no pod of its name exists (a lost node, a stolen credential), and keep an unused one (another cluster's?)", async () => {
    // GIVEN a used, disabled agent whose listener runs outside any pod (its job is over)
    const stray = await agent();
    const requestId = await online(stray, true);
    await disable(stray);
    env.fake.completeJob(requestId!, "succeeded");
    // and an unused online agent without a pod here: a live pod of a same-named release elsewhere
    const elsewhere = await agent();
    await online(elsewhere);
    const r = await gc();
    expect(r.code, r.output).toBe(0);
    expect(inPool()).toEqual([elsewhere.name]);
    expect(r.stdout).toContain(`removed agent ${stray.id} '${stray.name}': online for`);
    expect(r.stdout).toContain("a lost node, or a stolen credential");
    expect(r.stdout).toContain(`kept agent ${elsewhere.id} '${elsewhere.name}': online, unused, and no pod here`);
  });

  it("should keep an agent whose name is a pod that is not one of this release's agent pods", async () => {
    const namesake = await agent({ pod: "present" });
    kube.podReleases.delete(namesake.name);
    const requestId = await online(namesake, true);
    await disable(namesake);
    env.fake.completeJob(requestId!, "succeeded");
    const r = await gc();
    expect(r.code, r.output).toBe(0);
    expect(inPool()).toEqual([namesake.name]);
    expect(r.stdout).toContain(`kept agent ${namesake.id} '${namesake.name}': a pod '${namesake.name}' exists that is not an agent pod of this release`);
    expect(kube.requests.filter((q) => q.method === "DELETE")).toEqual([]);
  });

  it("should remove an agent left behind after its job, disabled, and delete its pod (uid precondition)", async () => {
    // GIVEN an agent whose job is over, disabled by its sidecar, which then could not remove it
    const leftBehind = await agent({ pod: "present" });
    const requestId = await online(leftBehind, true);
    await disable(leftBehind);
    env.fake.completeJob(requestId!, "succeeded");
    // and an agent whose pod exists and that ran nothing (the sidecar's to handle)
    const fresh = await agent({ pod: "present" });

    const r = await gc();

    expect(r.code, r.output).toBe(0);
    expect(inPool()).toEqual([fresh.name]);
    expect(r.stdout).toMatch(new RegExp(`removed agent ${leftBehind.id} '${leftBehind.name}': its job \\(request ${requestId}\\) finished \\d+s ago and its pod's sidecar did not remove it`));
    expect(r.stdout).toContain(`deleted pod ${kube.namespace}/${leftBehind.name}`);
    const podDeletes = kube.requests.filter((q) => q.method === "DELETE");
    expect(podDeletes).toEqual([
      expect.objectContaining({ path: `/api/v1/namespaces/${kube.namespace}/pods/${leftBehind.name}`, body: JSON.stringify({ kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: kube.uidOf(leftBehind.name) } }) }),
    ]);
  });

  it("should keep agents whose status changed within the grace, and remove nothing in a dry run", async () => {
    const recent = await agent();
    const kept = await gc({ env: { [names.gcOfflineGrace.name]: "3600" } });
    expect(kept.code, kept.output).toBe(0);
    expect(kept.stdout).toMatch(new RegExp(`kept agent ${recent.id} '${recent.name}': offline for \\d+s, less than the grace of 3600s`));

    const dry = await gc({ env: { [names.gcDryRun.name]: "true" } });
    expect(dry.code, dry.output).toBe(0);
    expect(dry.stdout).toContain("(dry run: nothing is removed)");
    expect(dry.stdout).toMatch(new RegExp(`would remove agent ${recent.id} '${recent.name}' \\(dry run\\): offline`));
    expect(inPool()).toEqual([recent.name]);
    expect(deletes()).toEqual([]);
  });
});

describe("azp-gc with autoscaling (KEDA Job pods, the placeholder)", () => {
  const placeholder = "ns-x-azp-agent-placeholder-0123abcd";
  const withPlaceholder = (): Record<string, string> => ({ [names.placeholderAgent.name]: placeholder, [names.placeholderCapabilities.name]: '{"TEAM":"a"}' });
  const placeholderAgent = () => env.fake.state().agents.find((a) => a.name === placeholder);

  it("should remove the agent of a finished Job pod (kept for KEDA's history) and keep that pod", async () => {
    const finished = await agent({ pod: "present" });
    kube.podPhases.set(finished.name, "Failed");
    const running = await agent({ pod: "present" });
    const r = await gc({ env: withPlaceholder() });
    expect(r.code, r.output).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toContain(running.name);
    expect(agentsInPool(env.fake, env.poolId)).not.toContain(finished.name);
    expect(kube.requests.filter((q) => q.method === "DELETE")).toEqual([]);
  });

  it("should never collect the release's placeholder, and register it again when someone removed it", async () => {
    const first = await gc({ env: withPlaceholder() });
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain(`placeholder agent '${placeholder}' was missing or changed: created`);
    const created = placeholderAgent();
    expect(created?.status).toBe("offline");
    expect(created?.systemCapabilities).toMatchObject({ [names.release.name]: release, TEAM: "a" });

    // Offline, no pod of its name, past the grace: anything else would be collected.
    kube.absentPods.add(placeholder);
    const second = await gc({ env: withPlaceholder() });
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`kept agent ${created?.id} '${placeholder}': the release's placeholder agent`);
    expect(placeholderAgent()?.id).toBe(created?.id);
    expect(agentDeletes(env.fake)).toEqual([]);
  });

  it("should collect a placeholder left behind once autoscaling is off (no AZP_PLACEHOLDER_AGENT)", async () => {
    expect((await gc({ env: withPlaceholder() })).code).toBe(0);
    kube.absentPods.add(placeholder);
    const r = await gc();
    expect(r.code, r.output).toBe(0);
    expect(placeholderAgent()).toBeUndefined();
  });
});

describe("azp-gc when something is wrong", () => {
  it.each([
    ["an invalid PAT", { token: UNKNOWN_PAT }, 4, "rejected the PAT in AZP_TOKEN_FILE as invalid"],
    ["an expired PAT", { token: EXPIRED_PAT }, 4, "has expired"],
    ["a missing pool", { env: { [names.pool.name]: "no-such-pool" } }, 5, "agent pool 'no-such-pool' (AZP_POOL) was not found"],
    ["an unreachable service", { env: { [names.url.name]: "http://127.0.0.1:9/fakeorg" } }, 3, "cannot reach Azure DevOps"],
    ["a malformed grace", { env: { [names.gcOfflineGrace.name]: "10m" } }, 2, "AZP_GC_OFFLINE_GRACE_SECONDS must be a whole number"],
  ])("should fail clearly with %s, removing nothing", async (_name, options, code, message) => {
    await agent();
    const r = await gc(options);
    expect(r.code, r.output).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.output).not.toContain(PAT);
    expect(inPool()).toHaveLength(1);
  });

  it("should stop at the first answer of a Role without 'get' on pods, removing nothing", async () => {
    await agent();
    kube.podsForbidden = true;
    const r = await gc();
    expect(r.code, r.output).toBe(EXIT.auth);
    expect(r.stderr).toContain("the Role bound to this ServiceAccount must allow 'get' on 'pods'");
    expect(inPool()).toHaveLength(1);
  });

  it("should retry a removal Azure DevOps fails with 5xx, keep the agent when it keeps failing, and exit non-zero after deciding the others", async () => {
    const flaky = await agent();
    const refused = await agent();
    const removable = await agent();
    env.fake.fault("DELETE", `/agents/${flaky.id}?`, 503, 1);
    env.fake.fault("DELETE", `/agents/${refused.id}?`, 500, 2);
    const r = await gc();
    expect(r.code, r.output).toBe(EXIT.unreachable);
    expect(inPool()).toEqual([refused.name]);
    expect(r.stdout).toContain(`removed agent ${flaky.id}`);
    expect(r.stdout).toContain(`removed agent ${removable.id}`);
    expect(r.stderr).toContain(`not removed agent ${refused.id} '${refused.name}': Azure DevOps failed while removing agent ${refused.id}`);
    expect(r.stderr).toContain("1 agent(s) could not be decided or removed");
    // The next run, with the service back, finishes the job.
    const again = await gc();
    expect(again.code, again.output).toBe(0);
    expect(inPool()).toEqual([]);
  });
});
