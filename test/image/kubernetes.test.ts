import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { LISTENING, type ImageTestEnv } from "./support/environment.ts";
import { useFakeKube, useImageEnv } from "./support/hooks.ts";
import type { FakeKube } from "./support/fake-kube.ts";
import { agentsInPool, newPod } from "./support/fixtures.ts";
import { runOneShot } from "./support/pod.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * The image's Kubernetes API calls (curl + the ServiceAccount token, no kubectl): the sidecar
 * deleting its own pod once the agent is removed, and the refresh CronJob's rollout restart.
 * GIVEN a fake API server over TLS and a ServiceAccount directory mounted like the projected one.
 */

const { env: names, commands } = imageContract;

let env: ImageTestEnv;
let kube: FakeKube;
useImageEnv((e) => (env = e));
useFakeKube((k) => (kube = k));

describe("azp-deregister in Kubernetes", () => {
  it("should remove the agent, then delete its own pod and wait for SIGTERM", async () => {
    // POD_NAMESPACE unset: the namespace comes from the ServiceAccount mount.
    const pod = newPod(env, { env: { deregister: { [names.podNamespace.name]: undefined } }, dockerArgs: { deregister: kube.dockerArgs() } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    const [job] = env.fake.enqueueJobs(env.poolId, { script: "echo in-kubernetes" });
    await env.fake.waitFor(() => env.fake.job(job ?? -1).result, { timeoutMs: 60_000, what: "the job" });

    await pod.waitForLog("deregister", `deleted pod ${kube.namespace}/${pod.name}`, 30_000);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    // It asks the API whether its pod is being deleted already, then deletes exactly that pod.
    const path = `/api/v1/namespaces/${kube.namespace}/pods/${pod.name}`;
    expect(kube.requests).toEqual([
      { method: "GET", path, contentType: undefined, authorized: true, body: "" },
      {
        method: "DELETE",
        path,
        contentType: "application/json",
        authorized: true,
        body: JSON.stringify({ kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: kube.uidOf(pod.name) } }),
      },
    ]);

    // Exiting now would make the kubelet restart the sidecar: it waits for the pod's SIGTERM.
    expect(await pod.running("deregister")).toBe(true);
    await pod.signal("agent");
    await pod.signal("deregister");
    expect((await pod.waitForExit("deregister", 10_000)).exitCode).toBe(0);
    expect((await pod.waitForExit("agent", 10_000)).exitCode).toBe(0);
    expect(kube.requests).toHaveLength(2);
  });

  it.each([
    ["the API says the pod is being deleted", (k: FakeKube, pod: string): void => void k.terminating.add(pod), `is being deleted already: not deleting it again`],
    ["the ServiceAccount is gone (helm uninstall: 401)", (k: FakeKube): void => void (k.rejectAll = true), `is being deleted already: not deleting it again`],
  ])("should remove the agent but not delete the pod again when %s", async (_name, arrange, message) => {
    // The kubelet stops the job container first; the sidecar sees the listener gone before its
    // own SIGTERM. What counts is the API's view of the pod, not a file the job could write.
    const pod = newPod(env, { dockerArgs: { deregister: kube.dockerArgs() } });
    arrange(kube, pod.name);
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    await pod.signal("agent");
    await pod.waitForExit("agent", 15_000);
    await pod.waitForLog("deregister", `pod ${kube.namespace}/${pod.name} ${message}`, 30_000);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(kube.requests.map((r) => r.method)).toEqual(["GET"]);
    expect(await pod.logs("deregister")).not.toContain("error");
    // Still waiting for its own SIGTERM (the kubelet sends it after the agent container ended).
    expect(await pod.running("deregister")).toBe(true);
    await pod.signal("deregister");
    expect((await pod.waitForExit("deregister", 10_000)).exitCode).toBe(0);
    expect(kube.requests.map((r) => r.method)).toEqual(["GET"]);
  });

  it("should delete no pod and call no API when its own SIGTERM came first", async () => {
    const pod = newPod(env, { dockerArgs: { deregister: kube.dockerArgs() } });
    await pod.start();
    await pod.waitForLog("agent", LISTENING);
    // The kubelet's order on pod deletion, with the sidecar's SIGTERM before it looked.
    await pod.signal("deregister");
    await pod.signal("agent");
    expect((await pod.waitForExit("deregister", 15_000)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(kube.requests).toEqual([]);
  });
});

function refresh(deployment: string): ReturnType<typeof runOneShot> {
  return runOneShot({
    image: env.image,
    command: commands.refresh,
    env: { [names.podNamespace.name]: kube.namespace, [names.deployment.name]: deployment },
    dockerArgs: kube.dockerArgs(),
  });
}

describe("azp-refresh", () => {
  it("should restart the Deployment the way kubectl rollout restart does", async () => {
    kube.deployments.set("azp-agent", { annotations: {} });
    const before = Date.now();
    const r = await refresh("azp-agent");
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`restarted Deployment ${kube.namespace}/azp-agent`);
    expect(kube.requests.map((q) => `${q.method} ${q.path} ${q.contentType ?? ""}`)).toEqual([
      `GET /apis/apps/v1/namespaces/${kube.namespace}/deployments/azp-agent `,
      `PATCH /apis/apps/v1/namespaces/${kube.namespace}/deployments/azp-agent application/strategic-merge-patch+json`,
    ]);
    const restartedAt = kube.deployments.get("azp-agent")?.annotations["kubectl.kubernetes.io/restartedAt"] ?? "";
    expect(restartedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Date.parse(restartedAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  });

  it("should name a missing Deployment", async () => {
    const r = await refresh("no-such-deployment");
    expect(r.code).toBe(EXIT.rejected);
    expect(r.stderr).toContain(`azp-refresh: error: Deployment 'no-such-deployment' (AZP_DEPLOYMENT) does not exist in namespace '${kube.namespace}'`);
    expect(kube.requests.filter((q) => q.method === "PATCH")).toEqual([]);
  });

  it("should say which permission the Role lacks when the API forbids the read", async () => {
    kube.forbidden.add("azp-agent");
    const r = await refresh("azp-agent");
    expect(r.code).toBe(EXIT.auth);
    expect(r.stderr).toContain("the Role bound to this ServiceAccount must allow 'get' on 'deployments' (apps)");
  });

  it("should refuse to run without AZP_DEPLOYMENT", async () => {
    const r = await runOneShot({ image: env.image, command: commands.refresh, env: {}, dockerArgs: kube.dockerArgs() });
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("AZP_DEPLOYMENT is not set");
  });
});
