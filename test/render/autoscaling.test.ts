import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { kedaApi, kedaMinVersion } from "../../generator/templates/helpers.ts";
import { component, componentLabel } from "../../generator/contract/components.ts";
import { ciScenario } from "../support/chart.ts";
import { failMessage, fullnameOf, helmTemplate, NAMESPACE, RELEASE, render } from "../support/helm.ts";
import { containerNamed, podSpecOf, podSpecs, Rendering } from "../support/manifests.ts";

/**
 * `autoscaling.enabled=true` (issue #9): KEDA's ScaledJob and TriggerAuthentication instead of
 * the Deployment, from the same pod emitter; the placeholder hooks; no refresh CronJob, no
 * Kubernetes permission for the agent pods. Rendered with `--api-versions` as a cluster with
 * KEDA reports them (test/support/helm.ts), and without, as a cluster without KEDA.
 */

const { containers, volumes, env } = imageContract;
const base = ciScenario("defaults");
const capabilities = { TEAM: "a", dotnet: "8.0" };
const values = { autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 7, pollingInterval: 20 }, agent: { capabilities } };
const fullname = fullnameOf(RELEASE);
const releaseCapability = `${NAMESPACE}/${fullname}`;
const placeholderName = `${NAMESPACE}-${fullname}-placeholder-${createHash("sha256").update(releaseCapability).digest("hex").slice(0, 8)}`;

const autoscaled = new Rendering(render({ valuesFiles: [base.file], values: [values] }));
const deploymentMode = new Rendering(render({ valuesFiles: [base.file], values: [{ agent: { capabilities } }] }));
const scaledJob = autoscaled.one("ScaledJob");
const jobPod = podSpecOf(scaledJob);
const deploymentPod = podSpecOf(deploymentMode.one("Deployment"));
const envOf = (spec: typeof jobPod, container: string): Record<string, string | undefined> =>
  Object.fromEntries((containerNamed(spec, container).env ?? []).map((e) => [e.name, e.value]));

describe("autoscaling rendering: resources", () => {
  it("should render a ScaledJob and a TriggerAuthentication instead of the Deployment, and no refresh CronJob", () => {
    expect(autoscaled.all("Deployment")).toEqual([]);
    expect(autoscaled.all("TriggerAuthentication")).toHaveLength(1);
    expect(autoscaled.all("CronJob").map((c) => c.metadata?.labels?.[componentLabel])).toEqual([component.gc]);
  });

  it("should give the agent pods no Kubernetes permission (no Role or RoleBinding for their ServiceAccount)", () => {
    expect(autoscaled.all("Role").map((r) => r.metadata?.labels?.[componentLabel])).toEqual([component.gc]);
    expect(autoscaled.all("RoleBinding").map((r) => r.metadata?.labels?.[componentLabel])).toEqual([component.gc]);
  });

  it("should register the placeholder after install and upgrade, and remove it before uninstall", () => {
    const hooks = autoscaled.all("Job").map((job) => ({ hook: job.metadata?.annotations?.["helm.sh/hook"], args: job.spec?.template.spec?.containers[0]?.args }));
    expect(hooks).toEqual([
      { hook: "post-install,post-upgrade,post-rollback", args: ["ensure"] },
      { hook: "pre-delete", args: ["remove"] },
    ]);
    for (const job of autoscaled.all("Job")) {
      const spec = podSpecOf(job);
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(envOf(spec, containers.placeholder)[env.placeholderAgent.name]).toBe(placeholderName);
      expect(JSON.parse(envOf(spec, containers.placeholder)[env.placeholderCapabilities.name]!)).toEqual(capabilities);
    }
  });
});

describe("autoscaling rendering: the ScaledJob", () => {
  const spec = scaledJob.spec!;
  const trigger = spec.triggers[0]!;

  it("should scale between minReplicas and maxReplicas at the polling interval", () => {
    expect([spec.minReplicaCount, spec.maxReplicaCount, spec.pollingInterval]).toEqual([1, 7, 20]);
  });

  it("should count starting and idle pods as pending (accurate + pendingPodConditions Ready) and keep running Jobs on upgrade (gradual)", () => {
    expect(spec.scalingStrategy).toEqual({ strategy: "accurate", pendingPodConditions: ["Ready"] });
    expect(spec.rollout).toEqual({ strategy: "gradual" });
    expect(spec.jobTargetRef.backoffLimit).toBe(0);
  });

  it("should ask for unfinished job requests only, exclude received ones on every KEDA version, and authenticate with the chart's Secret", () => {
    expect(trigger.type).toBe("azure-pipelines");
    expect(trigger.metadata).toMatchObject({
      organizationURL: "https://dev.azure.com/contoso",
      fetchUnfinishedJobsOnly: "true",
      scaleOnInFlight: "false",
      targetPipelinesQueueLength: "1",
      caseInsensitiveDemandsProcessing: "true",
    });
    expect(trigger.metadata).not.toHaveProperty("parent");
    expect(trigger.metadata).not.toHaveProperty("jobsToFetch");
    const auth = autoscaled.one("TriggerAuthentication");
    expect(trigger.authenticationRef?.name).toBe(auth.metadata?.name);
    expect(auth.spec?.secretTargetRef).toEqual([{ parameter: "personalAccessToken", name: fullname, key: imageContract.tokenFileName }]);
  });

  it("should offer exactly what the placeholder carries as demands (Agent.Version aside), both forms, with no space after a comma", () => {
    expect(String(trigger.metadata["demands"]).split(",")).toEqual([
      "AZP_RELEASE",
      `AZP_RELEASE -equals ${releaseCapability}`,
      "Agent.OS",
      "Agent.OS -equals Linux",
      "TEAM",
      "TEAM -equals a",
      "dotnet",
      "dotnet -equals 8.0",
    ]);
  });
});

describe("autoscaling rendering: one pod emitter", () => {
  it("should differ from the Deployment's pod only in restart policy, the sidecar's token, the agent's readiness and the lifecycle settings", () => {
    const strip = (spec: typeof jobPod) => {
      const copy = JSON.parse(JSON.stringify(spec)) as typeof jobPod;
      delete copy.restartPolicy;
      copy.volumes = copy.volumes?.filter((v) => v.name !== volumes.serviceAccount);
      for (const c of [...(copy.initContainers ?? []), ...copy.containers]) {
        delete c.readinessProbe;
        c.volumeMounts = c.volumeMounts?.filter((m) => m.name !== volumes.serviceAccount);
        const lifecycleEnv: string[] = [env.podLifecycle.name, env.idleTimeoutSeconds.name, env.maxLifetimeSeconds.name, env.minIdleAgents.name];
        c.env = c.env?.filter((e) => !lifecycleEnv.includes(e.name));
      }
      return copy;
    };
    expect(strip(jobPod)).toEqual(strip(deploymentPod));
  });

  it("should complete instead of being replaced: Never restarts, lifecycle complete, an idle timeout, a one-day lifetime by default", () => {
    expect(jobPod.restartPolicy).toBe("Never");
    expect(envOf(jobPod, containers.deregister)).toMatchObject({
      [env.podLifecycle.name]: "complete",
      [env.idleTimeoutSeconds.name]: "120",
      [env.minIdleAgents.name]: "1",
      [env.maxLifetimeSeconds.name]: "86400",
    });
    expect(envOf(jobPod, containers.agent)[env.podLifecycle.name]).toBe("complete");
    expect(envOf(deploymentPod, containers.deregister)).toMatchObject({ [env.podLifecycle.name]: "replace", [env.idleTimeoutSeconds.name]: "0", [env.maxLifetimeSeconds.name]: "0" });
  });

  it("should mount no Kubernetes token anywhere in the Job's pod", () => {
    expect(jobPod.volumes?.map((v) => v.name)).not.toContain(volumes.serviceAccount);
    expect(jobPod.automountServiceAccountToken).toBe(false);
  });

  it("should make the pod Ready only once Azure DevOps gave its agent a job, by a file in the sidecar's private /tmp", () => {
    const sidecar = containerNamed(jobPod, containers.deregister);
    expect(sidecar.readinessProbe?.exec?.command).toEqual(["test", "-f", `${imageContract.paths.tmp}/${imageContract.sidecarFiles.request}`]);
    // That /tmp is the sidecar's own volume: the job container never mounts it.
    const tmp = sidecar.volumeMounts?.find((m) => m.mountPath === imageContract.paths.tmp)?.name;
    expect(tmp).toBe(volumes.registrarTmp);
    expect(containerNamed(jobPod, containers.agent).volumeMounts?.map((m) => m.name)).not.toContain(tmp);
    expect(containerNamed(jobPod, containers.agent).readinessProbe).toBeUndefined();
    expect(containerNamed(deploymentPod, containers.deregister).readinessProbe).toBeUndefined();
  });

  it("should keep every pod of the release restricted and non-root", () => {
    for (const { owner, spec } of podSpecs(autoscaled)) {
      expect(spec.securityContext?.runAsNonRoot, owner).toBe(true);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        expect(c.securityContext?.allowPrivilegeEscalation, `${owner} ${c.name}`).toBe(false);
        expect(c.securityContext?.capabilities?.drop, `${owner} ${c.name}`).toEqual(["ALL"]);
      }
    }
  });
});

describe("autoscaling rendering: KEDA missing or too old", () => {
  it("should fail with a clear message when the cluster does not serve KEDA's ScaledJob", () => {
    const r = helmTemplate({ valuesFiles: [base.file], values: [values], apiVersions: [] });
    expect(r.code).not.toBe(0);
    expect(failMessage(r.stderr)).toBe(
      `autoscaling.enabled=true needs KEDA >= ${kedaMinVersion}, but the cluster does not serve ${kedaApi.scaledJob} (KEDA's CRDs are missing): install KEDA first (helm install keda kedacore/keda -n keda --create-namespace), or set autoscaling.enabled=false; with helm template, pass --api-versions ${kedaApi.scaledJob}`,
    );
  });

  it("should render the Deployment without KEDA when autoscaling is off", () => {
    expect(helmTemplate({ valuesFiles: [base.file], apiVersions: [] }).code).toBe(0);
  });
});
