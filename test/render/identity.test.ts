import { describe, expect, it } from "vitest";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { ciScenario } from "../support/chart.ts";
import { render } from "../support/helm.ts";
import { containerNamed, podSpecOf, podSpecs, Rendering } from "../support/manifests.ts";
import { component, componentLabel } from "../../generator/contract/components.ts";

/**
 * `azp.auth` (issue #10) as rendered: which credential each pod gets, and that the job
 * container gets none. Literal names and paths: they are the chart's interface to the image
 * and to the identity's federated credentials.
 */

const base = ciScenario("defaults");
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "0a1b2c3d-1111-2222-3333-444455556666";
const noPat = { token: "" };
const sp = { azp: { ...noPat, auth: "servicePrincipal", entra: { tenantId: TENANT, clientId: CLIENT, clientSecret: "sp-secret-value" } } };
const spExisting = { azp: { ...noPat, auth: "servicePrincipal", entra: { tenantId: TENANT, clientId: CLIENT, existingSecret: "team-sp", existingSecretKey: "password" } } };
const wi = { azp: { ...noPat, auth: "workloadIdentity", entra: { tenantId: TENANT, clientId: CLIENT } } };
const rendered = (values: object[]): Rendering => new Rendering(render({ valuesFiles: [base.file], values: values as never }));

const envOf = (spec: IPodSpec, container: string): Record<string, string | undefined> =>
  Object.fromEntries((containerNamed(spec, container).env ?? []).map((e) => [e.name, e.value]));
const mountsOf = (spec: IPodSpec, container: string): string[] => (containerNamed(spec, container).volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}`);
const volumeNames = (spec: IPodSpec): string[] => (spec.volumes ?? []).map((v) => v.name);

describe("identity rendering: PAT (the default)", () => {
  const r = rendered([]);
  const pod = podSpecOf(r.one("Deployment"));

  it("should set AZP_AUTH=pat and no Entra variable, and mount the PAT Secret into register and deregister only", () => {
    expect(envOf(pod, "register")["AZP_AUTH"]).toBe("pat");
    expect(Object.keys(envOf(pod, "register")).filter((n) => n.startsWith("AZURE_"))).toEqual([]);
    expect(mountsOf(pod, "register")).toContain("azp-token:/azp/secrets");
    expect(mountsOf(pod, "deregister")).toContain("azp-token:/azp/secrets");
    expect(mountsOf(pod, "agent").filter((m) => m.startsWith("azp-"))).toEqual([]);
    expect(volumeNames(pod)).not.toContain("azp-federated-token");
  });
});

describe("identity rendering: service principal", () => {
  it("should keep the client secret in the chart's Secret under the contract's key, and name the identity", () => {
    const r = rendered([sp]);
    expect(r.one("Secret").data).toEqual({ token: Buffer.from("sp-secret-value").toString("base64") });
    const pod = podSpecOf(r.one("Deployment"));
    expect(envOf(pod, "register")).toMatchObject({
      AZP_AUTH: "servicePrincipal",
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
      AZP_TOKEN_FILE: "/azp/secrets/token",
    });
    expect(envOf(pod, "register")["AZURE_FEDERATED_TOKEN_FILE"]).toBeUndefined();
    expect(envOf(pod, "agent")["AZURE_CLIENT_ID"]).toBeUndefined();
    expect(pod.volumes?.find((v) => v.name === "azp-token")?.secret).toEqual({ secretName: "ci-azp-agent", items: [{ key: "token", path: "token" }], defaultMode: 0o440 });
  });

  it("should project the key of an existing Secret and render no Secret of its own", () => {
    const r = rendered([spExisting]);
    expect(r.all("Secret")).toEqual([]);
    const pod = podSpecOf(r.one("Deployment"));
    expect(pod.volumes?.find((v) => v.name === "azp-token")?.secret).toEqual({ secretName: "team-sp", items: [{ key: "password", path: "token" }], defaultMode: 0o440 });
    expect(r.one("Deployment").spec?.template.metadata?.annotations?.["checksum/secret"]).toBeUndefined();
  });
});

describe("identity rendering: workload identity", () => {
  const r = rendered([wi]);
  const pod = podSpecOf(r.one("Deployment"));
  const federated = {
    name: "azp-federated-token",
    projected: { defaultMode: 0o440, sources: [{ serviceAccountToken: { path: "token", audience: "api://AzureADTokenExchange", expirationSeconds: 3600 } }] },
  };

  it("should render no Secret and mount no Secret anywhere", () => {
    expect(r.all("Secret")).toEqual([]);
    for (const { owner, spec } of podSpecs(r)) expect(volumeNames(spec), owner).not.toContain("azp-token");
  });

  it("should project a token for Entra's audience into register and deregister, never into the job container", () => {
    expect(pod.volumes?.find((v) => v.name === "azp-federated-token")).toEqual(federated);
    expect(mountsOf(pod, "register")).toContain("azp-federated-token:/azp/federated");
    expect(mountsOf(pod, "deregister")).toContain("azp-federated-token:/azp/federated");
    expect(mountsOf(pod, "agent").filter((m) => m.includes("federated"))).toEqual([]);
    expect(envOf(pod, "deregister")).toMatchObject({ AZP_AUTH: "workloadIdentity", AZURE_FEDERATED_TOKEN_FILE: "/azp/federated/token", AZURE_CLIENT_ID: CLIENT });
    expect(envOf(pod, "deregister")["AZP_TOKEN_FILE"]).toBeUndefined();
    expect(Object.keys(envOf(pod, "agent")).filter((n) => n.startsWith("AZURE_"))).toEqual([]);
  });

  it("should keep Azure's workload identity webhook out of the job container", () => {
    expect(r.one("Deployment").spec?.template.metadata?.annotations?.["azure.workload.identity/skip-containers"]).toBe("agent");
  });

  it("should give helm test the agents' ServiceAccount (one federated credential for both) and the collector its own, each with the token", () => {
    const test = r.one("Pod");
    expect(test.spec?.serviceAccountName).toBe("ci-azp-agent");
    expect(test.spec?.volumes?.find((v) => v.name === "azp-federated-token")).toEqual(federated);
    const gc = r.all("CronJob").find((c) => c.metadata?.labels?.[componentLabel] === component.gc);
    const gcPod = podSpecOf(gc!);
    expect(gcPod.serviceAccountName).toBe("ci-azp-agent-gc");
    expect(mountsOf(gcPod, "gc")).toContain("azp-federated-token:/azp/federated");
  });

  it("should take a custom audience for the projected token", () => {
    const custom = podSpecOf(rendered([wi, { azp: { entra: { audience: "api://contoso-agents" } } }]).one("Deployment"));
    expect(custom.volumes?.find((v) => v.name === "azp-federated-token")?.projected?.sources?.[0]?.serviceAccountToken?.audience).toBe("api://contoso-agents");
  });

  it("should authenticate KEDA with its own workload identity for this client id", () => {
    const keda = rendered([wi, { autoscaling: { enabled: true } }]).one("TriggerAuthentication");
    expect(keda.spec).toEqual({ podIdentity: { provider: "azure-workload", identityId: CLIENT } });
  });
});
