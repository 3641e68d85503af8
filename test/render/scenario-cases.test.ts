import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { v } from "../../generator/model/values.ts";
import { component, componentLabel } from "../../generator/contract/components.ts";
import { ciScenario } from "../support/chart.ts";
import { expectedEnvNames, proxyNames } from "../support/expected-env.ts";
import { containerNamed, containersOf, envValue, podSpecOf, podSpecs, scenarioRendering } from "../support/manifests.ts";
import { mergeValues, modelDefaults, type JsonObject } from "../support/values.ts";

/** What each ci scenario is for, checked against the values in its own file. */

const { containers, volumes, env } = imageContract;

type TeamValues = {
  azp: { existingSecret: string; existingSecretKey: string };
  replicaCount: number;
  nodeSelector: JsonObject;
  tolerations: JsonObject[];
  affinity: JsonObject;
  topologySpreadConstraints: JsonObject[];
  resources: JsonObject;
  extraEnv: { name: string; value: string }[];
  extraVolumes: JsonObject[];
  extraVolumeMounts: JsonObject[];
  agent: { capabilities: Record<string, string> };
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  priorityClassName: string;
  proxy: { httpsProxy: string; noProxy: string };
  imagePullSecrets: JsonObject[];
  refresh: { schedule: string; timeZone: string };
};

describe("team scenario", () => {
  const scenario = ciScenario("team");
  const values = scenario.values as unknown as TeamValues;
  const rendering = scenarioRendering("team");
  const deployment = rendering.one("Deployment");
  const spec = podSpecOf(deployment);
  const agent = containerNamed(spec, containers.agent);
  const register = containerNamed(spec, containers.register);

  it("should use the existing Secret and its key, and render no Secret", () => {
    expect(rendering.all("Secret")).toEqual([]);
    const tokenVolume = spec.volumes?.find((vol) => vol.name === volumes.token);
    expect(tokenVolume?.secret?.secretName).toBe(values.azp.existingSecret);
    expect(tokenVolume?.secret?.items).toEqual([{ key: values.azp.existingSecretKey, path: imageContract.tokenFileName }]);
  });

  it("should use the same Secret in the smoke test", () => {
    const testVolume = podSpecOf(rendering.one("Pod")).volumes?.find((vol) => vol.name === volumes.token);
    expect(testVolume?.secret?.secretName).toBe(values.azp.existingSecret);
  });

  it("should pass the scheduling settings to the agent pods", () => {
    expect(deployment.spec?.replicas).toBe(values.replicaCount);
    expect(spec.nodeSelector).toEqual(values.nodeSelector);
    expect(spec.tolerations).toEqual(values.tolerations);
    expect(spec.affinity).toEqual(values.affinity);
    expect(spec.topologySpreadConstraints).toEqual(values.topologySpreadConstraints);
    expect(spec.priorityClassName).toBe(values.priorityClassName);
  });

  it("should set imagePullSecrets on every pod", () => {
    for (const { owner, spec: s } of podSpecs(rendering)) expect(s.imagePullSecrets, owner).toEqual(values.imagePullSecrets);
  });

  it("should give the agent container the resources, extra env and extra mounts", () => {
    expect(agent.resources).toEqual(values.resources);
    for (const e of values.extraEnv) expect(agent.env).toContainEqual(e);
    for (const m of values.extraVolumeMounts) expect(agent.volumeMounts).toContainEqual(m);
    for (const vol of values.extraVolumes) expect(spec.volumes).toContainEqual(vol);
  });

  it("should keep extraEnv and extraVolumeMounts out of the credential-holding containers", () => {
    const extraNames = values.extraEnv.map((e) => e.name);
    const mountNames = values.extraVolumeMounts.map((m) => m.name);
    for (const { container } of containersOf(spec).filter(({ container }) => container.name !== containers.agent)) {
      expect((container.env ?? []).filter((e) => extraNames.includes(e.name)), container.name).toEqual([]);
      expect((container.volumeMounts ?? []).filter((m) => mountNames.includes(m.name)), container.name).toEqual([]);
    }
  });

  it.each([containers.register, containers.agent])("should set the capabilities as env vars of %s", (name) => {
    const container = containerNamed(spec, name);
    for (const [capability, value] of Object.entries(values.agent.capabilities)) expect(envValue(container, capability), capability).toBe(value);
  });

  it("should keep extraEnv out of the agent's capabilities (VSO_AGENT_IGNORE names them; the image adds its own list)", () => {
    expect(envValue(agent, "VSO_AGENT_IGNORE")).toBe("NUGET_PACKAGES,TEAM");
    // The capabilities themselves stay reportable.
    expect(envValue(agent, "VSO_AGENT_IGNORE")).not.toContain("dotnet");
  });

  it("should set the proxy variables on every container", () => {
    const names = proxyNames(mergeValues(modelDefaults(), scenario.values));
    expect(names.length).toBeGreaterThan(0);
    for (const { owner, spec: s } of podSpecs(rendering)) {
      for (const { container } of containersOf(s)) {
        for (const name of names) expect(container.env?.map((e) => e.name), `${owner} ${container.name}`).toContain(name);
        expect(envValue(container, "HTTPS_PROXY")).toBe(values.proxy.httpsProxy);
        expect(envValue(container, "no_proxy")).toBe(values.proxy.noProxy);
      }
    }
    // httpProxy is not set in this scenario: its variables must be absent, not empty.
    expect(register.env?.map((e) => e.name)).not.toContain("HTTP_PROXY");
  });

  it("should add the pod annotations and labels to the pod template only", () => {
    const meta = deployment.spec?.template.metadata;
    expect(meta?.annotations).toMatchObject(values.podAnnotations);
    expect(meta?.labels).toMatchObject(values.podLabels);
    expect(deployment.spec?.selector.matchLabels).not.toMatchObject(values.podLabels);
  });

  it("should schedule the refresh as configured", () => {
    const cron = rendering.component("CronJob", component.refresh);
    expect(cron.spec?.schedule).toBe(values.refresh.schedule);
    expect(cron.spec?.timeZone).toBe(values.refresh.timeZone);
  });

  it("should give the agent container exactly its contract variables plus capabilities, proxy and extraEnv", () => {
    expect((agent.env ?? []).map((e) => e.name).sort()).toEqual(expectedEnvNames("run", mergeValues(modelDefaults(), scenario.values)).sort());
  });
});

describe("no-refresh scenario", () => {
  const rendering = scenarioRendering("no-refresh");
  const componentOf = (r: { metadata?: { labels?: Record<string, string> } }): string | undefined => r.metadata?.labels?.[componentLabel];

  it("should render no refresh CronJob (the garbage collector's stays)", () => {
    expect(rendering.all("CronJob").map(componentOf)).toEqual([component.gc]);
  });

  it("should render no refresh ServiceAccount, Role or RoleBinding", () => {
    for (const kind of ["ServiceAccount", "Role", "RoleBinding"] as const) {
      const found = rendering.all(kind);
      expect(found.map(componentOf), kind).toEqual([component.agent, component.gc]);
    }
  });
});

describe("existing-sa scenario", () => {
  const values = ciScenario("existing-sa").values as { serviceAccount: { name: string }; refresh: { serviceAccount: { name: string } }; gc: { serviceAccount: { name: string } } };
  const rendering = scenarioRendering("existing-sa");

  it("should render no ServiceAccount, Role or RoleBinding", () => {
    expect([...rendering.all("ServiceAccount"), ...rendering.all("Role"), ...rendering.all("RoleBinding")]).toEqual([]);
  });

  it("should run the agent pods, the refresher and the collector under the given ServiceAccounts", () => {
    expect(podSpecOf(rendering.one("Deployment")).serviceAccountName).toBe(values.serviceAccount.name);
    expect(podSpecOf(rendering.component("CronJob", component.refresh)).serviceAccountName).toBe(values.refresh.serviceAccount.name);
    expect(podSpecOf(rendering.component("CronJob", component.gc)).serviceAccountName).toBe(values.gc.serviceAccount.name);
  });
});

describe("namespace scenario", () => {
  const values = ciScenario("namespace").values as { namespace: { name: string } };
  const rendering = scenarioRendering("namespace");

  it("should create the named Namespace with the Pod Security label", () => {
    const namespace = rendering.one("Namespace");
    expect(namespace.metadata?.name).toBe(values.namespace.name);
    const psaLabels = v("namespace.labels").spec.default as Record<string, string>;
    expect(Object.keys(psaLabels).some((k) => k.startsWith("pod-security.kubernetes.io/"))).toBe(true);
    expect(namespace.metadata?.labels).toMatchObject(psaLabels);
  });

  it("should keep the Namespace on uninstall (other releases may live in it)", () => {
    expect(rendering.one("Namespace").metadata?.annotations?.["helm.sh/resource-policy"]).toBe("keep");
  });

  it("should put every namespaced resource, and every RoleBinding subject, in that Namespace", () => {
    const others = rendering.resources.filter((r) => r.kind !== "Namespace");
    expect(others.length).toBeGreaterThan(0);
    for (const r of others) expect(r.metadata?.namespace, `${r.kind}/${r.metadata?.name}`).toBe(values.namespace.name);
    for (const b of rendering.all("RoleBinding")) for (const s of b.subjects ?? []) expect(s.namespace).toBe(values.namespace.name);
  });
});

describe("download scenario", () => {
  const values = ciScenario("download").values as { agent: { source: string } };
  const rendering = scenarioRendering("download");

  it("should tell the register container to download the agent", () => {
    const register = containerNamed(podSpecOf(rendering.one("Deployment")), containers.register);
    expect(values.agent.source).toBe("download");
    expect(envValue(register, env.agentSource.name)).toBe(values.agent.source);
  });

  it("should keep the baked source in the other scenarios", () => {
    const register = containerNamed(podSpecOf(scenarioRendering("defaults").one("Deployment")), containers.register);
    expect(envValue(register, env.agentSource.name)).toBe(v("agent.source").spec.default);
  });
});

describe("an organization URL pasted from the browser", () => {
  it("should drop its trailing slash in every container that talks to Azure DevOps", () => {
    // GIVEN the defaults with `https://dev.azure.com/contoso/`  WHEN rendered
    const rendering = scenarioRendering("defaults", { values: [{ azp: { url: "https://dev.azure.com/contoso/" } }] });
    // THEN
    const spec = podSpecOf(rendering.one("Deployment"));
    for (const name of [containers.register, containers.deregister]) expect(envValue(containerNamed(spec, name), env.url.name)).toBe("https://dev.azure.com/contoso");
    expect(envValue(containerNamed(podSpecOf(rendering.one("Pod")), containers.smoke), env.url.name)).toBe("https://dev.azure.com/contoso");
  });
});
