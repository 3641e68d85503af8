import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { component } from "../../generator/contract/components.ts";
import { ciScenario } from "../support/chart.ts";
import { containerNamed, containersOf, podSpecOf, scenarioRendering, type Kind } from "../support/manifests.ts";

/** The defaults scenario: only URL, pool and PAT set, every other value at its default. */

const { containers, volumes, paths, env } = imageContract;

describe("defaults rendering: resources", () => {
  const rendering = scenarioRendering("defaults");

  it("should render exactly a Secret, 3 ServiceAccounts, 3 Roles, 3 RoleBindings, a Deployment, 2 CronJobs (refresh, gc) and the test Pod", () => {
    const counts: Partial<Record<Kind, number>> = {};
    for (const r of rendering.resources) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
    expect(counts).toEqual({ Secret: 1, ServiceAccount: 3, Role: 3, RoleBinding: 3, Deployment: 1, CronJob: 2, Pod: 1 });
  });

  it("should not create a Namespace", () => {
    expect(rendering.all("Namespace")).toEqual([]);
  });

  it("should make the Pod a `helm test` hook", () => {
    expect(rendering.one("Pod").metadata?.annotations?.["helm.sh/hook"]).toBe("test");
  });

  it("should store the PAT under the contract's token file name, base64-encoded", () => {
    const secret = rendering.one("Secret");
    const token = (ciScenario("defaults").values["azp"] as { token: string }).token;
    expect(secret.data).toEqual({ [imageContract.tokenFileName]: Buffer.from(token).toString("base64") });
    expect(secret.stringData).toBeUndefined();
  });
});

describe("defaults rendering: credential isolation in the Deployment", () => {
  const rendering = scenarioRendering("defaults");
  const deployment = rendering.one("Deployment");
  const spec = podSpecOf(deployment);
  const agent = containerNamed(spec, containers.agent);
  const register = containerNamed(spec, containers.register);
  const deregister = containerNamed(spec, containers.deregister);
  const credentialVolumes: string[] = [volumes.token, volumes.serviceAccount];

  it("should not automount a ServiceAccount token into the pod", () => {
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  it("should run register and deregister as init containers and the agent as the only main container", () => {
    expect(spec.initContainers?.map((c) => c.name)).toEqual([containers.register, containers.deregister]);
    expect(spec.containers.map((c) => c.name)).toEqual([containers.agent]);
  });

  it("should mount neither the PAT Secret nor the ServiceAccount token into the agent container", () => {
    const mounts = agent.volumeMounts ?? [];
    expect(mounts.filter((m) => credentialVolumes.includes(m.name))).toEqual([]);
    expect(mounts.filter((m) => m.mountPath.startsWith(paths.secrets) || m.mountPath.startsWith(paths.serviceAccount))).toEqual([]);
  });

  it("should give the agent container no env var pointing at a credential", () => {
    const vars = agent.env ?? [];
    expect(vars.map((e) => e.name)).not.toContain(env.tokenFile.name);
    expect(vars.filter((e) => e.valueFrom?.secretKeyRef !== undefined)).toEqual([]);
    expect(vars.filter((e) => e.value?.startsWith(paths.secrets) || e.value?.startsWith(paths.serviceAccount))).toEqual([]);
    expect(agent.envFrom).toBeUndefined();
  });

  it("should not share the registrar's /tmp with the agent container", () => {
    expect((agent.volumeMounts ?? []).map((m) => m.name)).not.toContain(volumes.registrarTmp);
  });

  it.each([containers.register, containers.deregister])("should mount the PAT read-only into %s", (name) => {
    const mount = containerNamed(spec, name).volumeMounts?.find((m) => m.name === volumes.token);
    expect(mount).toEqual({ name: volumes.token, mountPath: paths.secrets, readOnly: true });
  });

  it("should mount the ServiceAccount token into the deregister sidecar only", () => {
    const holders = containersOf(spec)
      .filter(({ container }) => (container.volumeMounts ?? []).some((m) => m.name === volumes.serviceAccount))
      .map(({ container }) => container.name);
    expect(holders).toEqual([containers.deregister]);
    expect(deregister.volumeMounts?.find((m) => m.name === volumes.serviceAccount)).toEqual({
      name: volumes.serviceAccount,
      mountPath: paths.serviceAccount,
      readOnly: true,
    });
  });

  it("should project the ServiceAccount token volume from the pod's own identity", () => {
    const volume = spec.volumes?.find((v) => v.name === volumes.serviceAccount);
    expect(volume?.projected?.sources?.some((s) => s.serviceAccountToken !== undefined)).toBe(true);
  });

  it("should back the PAT volume by the release's Secret, projected to the contract's file name", () => {
    const volume = spec.volumes?.find((v) => v.name === volumes.token);
    expect(volume?.secret?.secretName).toBe(rendering.one("Secret").metadata?.name);
    expect(volume?.secret?.items).toEqual([{ key: imageContract.tokenFileName, path: imageContract.tokenFileName }]);
  });

  it("should make deregister a native sidecar (restartPolicy: Always) and leave register a plain init container", () => {
    expect(deregister.restartPolicy).toBe("Always");
    expect(register.restartPolicy).toBeUndefined();
  });

  it("should not mount the job-writable agent volume into the sidecar, so it never runs code a job could plant", () => {
    expect(deregister.volumeMounts?.map((m) => m.name)).not.toContain(volumes.agent);
  });

  it("should hold the job container back until the sidecar has found its agent, on a marker in the sidecar's private /tmp", () => {
    const probe = deregister.startupProbe?.exec?.command ?? [];
    expect(probe).toEqual(["test", "-f", "/tmp/deregister-ready"]);
    const privateTmp = deregister.volumeMounts?.find((m) => m.mountPath === "/tmp")?.name;
    expect(agent.volumeMounts?.map((m) => m.name)).not.toContain(privateTmp);
  });

  it("should give the sidecar what it needs to find its agent without the job's help: the pool and the pod's name", () => {
    expect(deregister.env?.find((e) => e.name === "AZP_POOL")?.value).toBe("k8s-pool");
    expect(deregister.env?.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
  });

  it("should not mount the job-writable state volume into the register container (it hands nothing over)", () => {
    expect(register.volumeMounts?.map((m) => m.name)).not.toContain(volumes.state);
  });

  it("should keep Service links out of the agent pods' environment (each would become a capability)", () => {
    expect(spec.enableServiceLinks).toBe(false);
  });

  it("should tell the job container the grace period, so a job is cancelled before the pod is killed", () => {
    expect(agent.env?.find((e) => e.name === "AZP_STOP_GRACE_SECONDS")?.value).toBe("3600");
  });
});

describe("defaults rendering: RBAC", () => {
  const rendering = scenarioRendering("defaults");
  const deployment = rendering.one("Deployment");
  const cronJob = rendering.component("CronJob", component.refresh);
  const gcJob = rendering.component("CronJob", component.gc);

  /** The rules of the Role(s) bound to a ServiceAccount. */
  function rulesOf(serviceAccount: string | undefined): unknown[] {
    const bound = rendering
      .all("RoleBinding")
      .filter((b) => b.subjects?.some((s) => s.kind === "ServiceAccount" && s.name === serviceAccount))
      .map((b) => b.roleRef.name);
    expect(bound, `bindings of ${serviceAccount}`).toHaveLength(1);
    return rendering
      .all("Role")
      .filter((r) => bound.includes(r.metadata?.name ?? ""))
      .flatMap((r) => r.rules ?? []);
  }

  it("should let the agent pods' identity only get and delete pods", () => {
    expect(rulesOf(podSpecOf(deployment).serviceAccountName)).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["get", "delete"] }]);
  });

  it("should let the refresher only get and patch its own Deployment", () => {
    expect(rulesOf(podSpecOf(cronJob).serviceAccountName)).toEqual([
      { apiGroups: ["apps"], resources: ["deployments"], resourceNames: [deployment.metadata?.name], verbs: ["get", "patch"] },
    ]);
  });

  it("should let the garbage collector only get and delete pods", () => {
    expect(rulesOf(podSpecOf(gcJob).serviceAccountName)).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["get", "delete"] }]);
  });

  it("should give the agent pods, the refresher and the collector different ServiceAccounts, all created by the chart", () => {
    const agentSa = podSpecOf(deployment).serviceAccountName;
    const refreshSa = podSpecOf(cronJob).serviceAccountName;
    const gcSa = podSpecOf(gcJob).serviceAccountName;
    expect(new Set([agentSa, refreshSa, gcSa]).size).toBe(3);
    expect(rendering.all("ServiceAccount").map((sa) => sa.metadata?.name).sort()).toEqual([agentSa, refreshSa, gcSa].sort());
  });

  it("should not let the chart's ServiceAccounts automount tokens", () => {
    for (const sa of rendering.all("ServiceAccount")) expect(sa.automountServiceAccountToken, sa.metadata?.name).toBe(false);
  });

  it("should point the refresher at the Deployment by name", () => {
    const refresh = containerNamed(podSpecOf(cronJob), containers.refresh);
    expect(refresh.env?.find((e) => e.name === env.deployment.name)?.value).toBe(deployment.metadata?.name);
  });
});

describe("defaults rendering: garbage collection", () => {
  const rendering = scenarioRendering("defaults");
  const deployment = rendering.one("Deployment");
  const gcJob = rendering.component("CronJob", component.gc);
  const gc = containerNamed(podSpecOf(gcJob), containers.gc);
  const envOf = (c: { env?: { name: string; value?: string }[] }, name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;
  const register = containerNamed(podSpecOf(deployment), containers.register);

  it("should collect every 10 minutes, one run at a time", () => {
    expect(gcJob.spec?.schedule).toBe("*/10 * * * *");
    expect(gcJob.spec?.concurrencyPolicy).toBe("Forbid");
    expect(gcJob.spec?.suspend).toBe(false);
  });

  it("should run azp-gc for exactly the release the agents report (AZP_RELEASE), with a 600 s grace and no dry run", () => {
    expect(gc.command).toEqual([imageContract.commands.gc]);
    expect(envOf(gc, env.release.name)).toBe(envOf(register, env.release.name));
    expect(envOf(gc, env.gcOfflineGrace.name)).toBe("600");
    expect(envOf(gc, env.gcDryRun.name)).toBe("false");
  });

  it("should give the collector the PAT and its token, and none of the agent pod's volumes", () => {
    const spec = podSpecOf(gcJob);
    expect(spec.automountServiceAccountToken).toBe(true);
    expect((spec.volumes ?? []).map((vol) => vol.name).sort()).toEqual([imageContract.volumes.token, imageContract.volumes.tmp].sort());
    expect(gc.volumeMounts?.find((m) => m.name === imageContract.volumes.token)).toMatchObject({ mountPath: imageContract.paths.secrets, readOnly: true });
  });
});
