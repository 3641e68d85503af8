import { describe, expect, it } from "vitest";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ciScenario } from "../support/chart.ts";
import { failMessage, fullnameOf, helmTemplate, KEDA_API_VERSIONS, RELEASE, render } from "../support/helm.ts";
import { podSpecs, Rendering, type Resource } from "../support/manifests.ts";

/**
 * Isolation enforced by the cluster (issue #10): the own-pod deletion policy, the
 * NetworkPolicies, and the restricted Pod Security Standard for every pod the chart creates.
 * Expected values are literals; which policy selects which pod is computed from the rendered
 * selectors and pod labels, as the network plugin would.
 */

const base = ciScenario("defaults");
const fullname = fullnameOf(RELEASE);
const autoscaling = { autoscaling: { enabled: true } };
const both = { admissionPolicy: { enabled: true }, networkPolicy: { enabled: true } };
const rendered = (values: object[]): Rendering => new Rendering(render({ valuesFiles: [base.file], values: values as never }));
const failure = (values: object[], apiVersions?: string[]): string | undefined => {
  const r = helmTemplate({ valuesFiles: [base.file], values: values as never, ...(apiVersions === undefined ? {} : { apiVersions }) });
  expect(r.code, r.stdout).not.toBe(0);
  return failMessage(r.stderr);
};

/** Labels of the pods a workload creates (or of the Pod itself). */
function podLabels(r: Resource): Record<string, string> {
  const spec = r.toJSON() as { kind: string; metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> };
  const meta = (path: string[]): Record<string, string> => {
    let node: unknown = spec;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
    return ((node as { labels?: Record<string, string> } | undefined)?.labels ?? {}) as Record<string, string>;
  };
  switch (spec.kind) {
    case "Pod":
      return spec.metadata?.labels ?? {};
    case "CronJob":
      return meta(["spec", "jobTemplate", "spec", "template", "metadata"]);
    case "ScaledJob":
      return meta(["spec", "jobTargetRef", "template", "metadata"]);
    default:
      return meta(["spec", "template", "metadata"]);
  }
}

/** Whether a NetworkPolicy's podSelector (matchLabels + `In` expressions) selects these labels. */
function selects(policy: INetworkPolicy, labels: Record<string, string>): boolean {
  const selector = policy.spec?.podSelector ?? {};
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => e.operator === "In" && (e.values ?? []).includes(labels[e.key] ?? "\u0000"));
  return byLabels && byExpressions;
}

function workloads(r: Rendering): Resource[] {
  return [...r.all("Deployment"), ...r.all("ScaledJob"), ...r.all("CronJob"), ...r.all("Job"), ...r.all("Pod")];
}

const DNS_RULE = {
  to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};
const EVERYWHERE_BUT_METADATA = { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32", "168.63.129.16/32"] } };
const ADO_RULE = { to: [EVERYWHERE_BUT_METADATA], ports: [{ protocol: "TCP", port: 443 }] };
const API_RULE = {
  to: [EVERYWHERE_BUT_METADATA],
  ports: [
    { protocol: "TCP", port: 443 },
    { protocol: "TCP", port: 6443 },
  ],
};

describe("isolation rendering: defaults", () => {
  it("should render neither the admission policy nor a NetworkPolicy unless asked", () => {
    const ids = rendered([]).ids();
    expect(ids.filter((id) => /ValidatingAdmissionPolicy|NetworkPolicy/.test(id))).toEqual([]);
  });
});

describe("isolation rendering: the own-pod deletion policy", () => {
  const r = rendered([both]);
  const policy = r.one("ValidatingAdmissionPolicy");
  const binding = r.one("ValidatingAdmissionPolicyBinding");

  it("should apply to pod deletions by the agents' ServiceAccount only, in the release's namespace only", () => {
    expect(policy.metadata?.name).toBe("ci-ns-ci-azp-agent-own-pod-deletion");
    expect(policy.spec?.matchConstraints?.resourceRules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["DELETE"] }]);
    expect(policy.spec?.matchConditions).toEqual([{ name: "agent-service-account", expression: "request.userInfo.username == 'system:serviceaccount:ci-ns:ci-azp-agent'" }]);
    expect(policy.spec?.failurePolicy).toBe("Fail");
    expect(binding.spec?.policyName).toBe("ci-ns-ci-azp-agent-own-pod-deletion");
    expect(binding.spec?.validationActions).toEqual(["Deny"]);
    expect(binding.spec?.matchResources?.namespaceSelector).toEqual({ matchLabels: { "kubernetes.io/metadata.name": "ci-ns" } });
  });

  it("should allow only the pod named in the token, and say so naming the rule", () => {
    expect(policy.spec?.validations).toEqual([
      {
        expression:
          "has(request.userInfo.extra) && 'authentication.kubernetes.io/pod-name' in request.userInfo.extra && request.userInfo.extra['authentication.kubernetes.io/pod-name'] == [request.name]",
        reason: "Forbidden",
        messageExpression:
          "'system:serviceaccount:ci-ns:ci-azp-agent may delete only the pod named in its own token (authentication.kubernetes.io/pod-name: ' + ((has(request.userInfo.extra) && 'authentication.kubernetes.io/pod-name' in request.userInfo.extra) ? request.userInfo.extra['authentication.kubernetes.io/pod-name'].join(',') : 'none') + '), not pod ' + request.name + ' (ValidatingAdmissionPolicy ci-ns-ci-azp-agent-own-pod-deletion)'",
      },
    ]);
  });

  it("should name an existing agent ServiceAccount and honour a trial mode", () => {
    const custom = rendered([both, { serviceAccount: { create: false, name: "platform-agents" }, admissionPolicy: { validationActions: ["Warn", "Audit"] } }]);
    expect(custom.one("ValidatingAdmissionPolicy").spec?.matchConditions?.[0]?.expression).toBe("request.userInfo.username == 'system:serviceaccount:ci-ns:platform-agents'");
    expect(custom.one("ValidatingAdmissionPolicyBinding").spec?.validationActions).toEqual(["Warn", "Audit"]);
  });

  it("should refuse a cluster without ValidatingAdmissionPolicy, naming the API and the fix", () => {
    expect(failure([both], KEDA_API_VERSIONS as string[])).toBe(
      "admissionPolicy.enabled=true needs admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy (Kubernetes >= 1.30, whose bound service-account tokens name their pod), which the cluster does not serve: upgrade the cluster, or set admissionPolicy.enabled=false; with helm template, pass --api-versions admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    );
  });

  it("should refuse agents and the collector sharing one ServiceAccount (the policy would stop the collector)", () => {
    const shared = { serviceAccount: { create: false, name: "shared" }, gc: { serviceAccount: { create: false, name: "shared" } } };
    expect(failure([both, shared])).toBe(
      "serviceAccount.name and gc.serviceAccount.name name the same ServiceAccount while admissionPolicy.enabled=true: the policy would let the collector delete only its own pod, not an agent's; give the collector a ServiceAccount of its own (gc.serviceAccount.create=true)",
    );
    expect(helmTemplate({ valuesFiles: [base.file], values: [shared] }).code).toBe(0);
  });
});

describe("isolation rendering: NetworkPolicies", () => {
  const r = rendered([both]);
  const policies = r.all("NetworkPolicy");
  const byName = (suffix: string): INetworkPolicy => {
    const found = policies.find((p) => p.metadata?.name === `${fullname}-${suffix}`);
    if (found === undefined) throw new Error(`no NetworkPolicy ${fullname}-${suffix}`);
    return found;
  };

  it("should select every pod of the release by exactly one policy, and deny all ingress", () => {
    for (const mode of [r, rendered([both, autoscaling])]) {
      const modePolicies = mode.all("NetworkPolicy");
      for (const workload of workloads(mode)) {
        const selecting = modePolicies.filter((p) => selects(p, podLabels(workload))).map((p) => p.metadata?.name);
        expect(selecting, `${workload.kind}/${workload.metadata?.name}`).toHaveLength(1);
      }
      for (const p of modePolicies) {
        expect(p.spec?.policyTypes).toEqual(["Ingress", "Egress"]);
        expect(p.spec?.ingress).toBeUndefined();
      }
    }
    expect(policies.map((p) => p.metadata?.name).sort()).toEqual([`${fullname}-agents`, `${fullname}-cronjobs`, `${fullname}-hooks`]);
  });

  it("should let the Deployment's agents reach DNS, Azure DevOps and the API server, and nothing else by default", () => {
    expect(byName("agents").spec?.egress).toEqual([DNS_RULE, ADO_RULE, API_RULE]);
  });

  it("should not let KEDA's agent pods (no Kubernetes token) reach the API server", () => {
    const keda = rendered([both, autoscaling]).all("NetworkPolicy").find((p) => p.metadata?.name === `${fullname}-agents`);
    expect(keda?.spec?.egress).toEqual([DNS_RULE, ADO_RULE]);
  });

  it("should let the CronJobs reach the API server and the hooks only Azure DevOps", () => {
    expect(byName("cronjobs").spec?.egress).toEqual([DNS_RULE, ADO_RULE, API_RULE]);
    expect(byName("hooks").spec?.egress).toEqual([DNS_RULE, ADO_RULE]);
  });

  it("should except from each range exactly the metadata addresses it holds", () => {
    const cidrs = ["13.107.6.0/24", "169.254.0.0/16", "168.63.0.0/16", "160.0.0.0/4", "10.0.0.0/8", "169.254.169.254/31", "2603:1030::/32"];
    const narrowed = rendered([both, { networkPolicy: { azureDevOps: { cidrs } } }]);
    const ado = narrowed.all("NetworkPolicy").find((p) => p.metadata?.name === `${fullname}-agents`)?.spec?.egress?.[1]?.to;
    expect(ado).toEqual([
      { ipBlock: { cidr: "13.107.6.0/24", except: [] } },
      { ipBlock: { cidr: "169.254.0.0/16", except: ["169.254.169.254/32"] } },
      { ipBlock: { cidr: "168.63.0.0/16", except: ["168.63.129.16/32"] } },
      { ipBlock: { cidr: "160.0.0.0/4", except: ["169.254.169.254/32", "168.63.129.16/32"] } },
      { ipBlock: { cidr: "10.0.0.0/8", except: [] } },
      { ipBlock: { cidr: "169.254.169.254/31", except: ["169.254.169.254/32"] } },
      { ipBlock: { cidr: "2603:1030::/32", except: [] } },
    ]);
  });

  it("should refuse a chart range that is a metadata address itself (an ipBlock cannot except all of itself)", () => {
    expect(failure([both, { networkPolicy: { apiServer: { cidrs: ["10.0.0.1/32", "168.63.129.16/32"] } } }])).toBe(
      "networkPolicy.apiServer.cidrs has 168.63.129.16/32, the metadata address 168.63.129.16 itself: remove it, or set networkPolicy.allowMetadata=true if the pods must reach it",
    );
  });

  it("should refuse empty destination lists and IPv4-mapped IPv6 ranges in the schema", () => {
    for (const bad of [{ dns: [] }, { azureDevOps: { cidrs: [] } }, { apiServer: { cidrs: [] } }, { entra: { ports: [] } }, { azureDevOps: { cidrs: ["::ffff:0.0.0.0/96"] } }, { apiServer: { cidrs: ["::FFFF:a9fe:a9fe/128"] } }]) {
      const r = helmTemplate({ valuesFiles: [base.file], values: [both, { networkPolicy: bad }] as never });
      expect(r.code, JSON.stringify(bad)).not.toBe(0);
      expect(r.stderr, JSON.stringify(bad)).toContain("values don't meet the specifications of the schema");
    }
  });

  it("should refuse an IPv4-mapped IPv6 range in a user rule", () => {
    const mapped = { networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: "::ffff:a9fe:0/112" } }] }] } };
    expect(failure([both, mapped])).toBe(
      "networkPolicy.extraEgress[0] has the IPv4-mapped IPv6 range ::ffff:a9fe:0/112: write it as an IPv4 range, so that the metadata addresses can be checked and excepted",
    );
  });

  it("should let every kind of pod reach Microsoft Entra in the Entra modes, and only there", () => {
    const entraValues = { azp: { token: "", auth: "workloadIdentity", entra: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientId: "0a1b2c3d-1111-2222-3333-444455556666" } } };
    const ENTRA_RULE = { to: [EVERYWHERE_BUT_METADATA], ports: [{ protocol: "TCP", port: 443 }] };
    const withEntra = rendered([both, entraValues]).all("NetworkPolicy");
    const egressOf = (suffix: string): unknown => withEntra.find((p) => p.metadata?.name === `${fullname}-${suffix}`)?.spec?.egress;
    expect(egressOf("agents")).toEqual([DNS_RULE, ADO_RULE, ENTRA_RULE, API_RULE]);
    expect(egressOf("cronjobs")).toEqual([DNS_RULE, ADO_RULE, ENTRA_RULE, API_RULE]);
    expect(egressOf("hooks")).toEqual([DNS_RULE, ADO_RULE, ENTRA_RULE]);
  });

  it("should except nothing when metadata is allowed", () => {
    const allowed = rendered([both, { networkPolicy: { allowMetadata: true } }]);
    expect(allowed.all("NetworkPolicy").find((p) => p.metadata?.name === `${fullname}-agents`)?.spec?.egress?.[1]).toEqual({
      to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [] } }],
      ports: [{ protocol: "TCP", port: 443 }],
    });
  });

  it("should append the user's egress rules for the agents only", () => {
    const feed = { to: [{ ipBlock: { cidr: "10.20.0.0/16" } }], ports: [{ protocol: "TCP", port: 8443 }] };
    const withFeed = rendered([both, { networkPolicy: { extraEgress: [feed] } }]).all("NetworkPolicy");
    expect(withFeed.find((p) => p.metadata?.name === `${fullname}-agents`)?.spec?.egress).toEqual([DNS_RULE, ADO_RULE, API_RULE, feed]);
    expect(withFeed.find((p) => p.metadata?.name === `${fullname}-cronjobs`)?.spec?.egress).toEqual([DNS_RULE, ADO_RULE, API_RULE]);
  });

  it("should refuse a user rule that opens a metadata address, naming the rule, the address and the fix", () => {
    const open = { networkPolicy: { extraEgress: [{ to: [{ podSelector: {} }] }, { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32"] } }] }] } };
    expect(failure([both, open])).toBe(
      `networkPolicy.extraEgress[1] lets the agent pods reach the metadata address 168.63.129.16 (ipBlock 0.0.0.0/0): add "168.63.129.16/32" to that ipBlock's except, or set networkPolicy.allowMetadata=true if jobs must reach it`,
    );
    const anywhere = { networkPolicy: { extraEgress: [{ ports: [{ protocol: "TCP", port: 443 }] }] } };
    expect(failure([both, anywhere])).toBe(
      `networkPolicy.extraEgress[0] has no destinations ("to"), so it lets the agent pods reach every address, the metadata addresses included: list its destinations (an ipBlock that excepts the metadata addresses, or selectors), or set networkPolicy.allowMetadata=true`,
    );
        const closed = { networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32", "168.63.129.16/32"] } }] }] } };
    expect(helmTemplate({ valuesFiles: [base.file], values: [both, closed] }).code).toBe(0);
    expect(helmTemplate({ valuesFiles: [base.file], values: [both, open, { networkPolicy: { allowMetadata: true } }] }).code).toBe(0);
  });
});

describe("isolation rendering: restricted Pod Security for every pod", () => {
  // The restricted profile (Kubernetes Pod Security Standards, v1.34): what each pod and container
  // must state, literally.
  const cases: [string, object[]][] = [
    ["defaults", []],
    ["autoscaling", [autoscaling]],
    ["isolation", [both]],
  ];
  for (const [name, values] of cases) {
    it(`should meet the restricted profile in every pod, hooks and tests included (${name})`, () => {
      const specs = podSpecs(rendered(values));
      expect(specs.length).toBeGreaterThanOrEqual(3);
      for (const { owner, spec } of specs) {
        expect(spec.securityContext?.runAsNonRoot, owner).toBe(true);
        expect(spec.securityContext?.seccompProfile, owner).toEqual({ type: "RuntimeDefault" });
        expect(spec.hostNetwork ?? false, owner).toBe(false);
        expect(spec.hostPID ?? false, owner).toBe(false);
        expect(spec.hostIPC ?? false, owner).toBe(false);
        for (const volume of spec.volumes ?? []) expect(volume.hostPath, `${owner} volume ${volume.name}`).toBeUndefined();
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          expect(c.securityContext?.allowPrivilegeEscalation, `${owner} ${c.name}`).toBe(false);
          expect(c.securityContext?.privileged ?? false, `${owner} ${c.name}`).toBe(false);
          expect(c.securityContext?.capabilities, `${owner} ${c.name}`).toEqual({ drop: ["ALL"] });
          expect(c.ports?.some((p) => p.hostPort !== undefined) ?? false, `${owner} ${c.name}`).toBe(false);
        }
      }
    });
  }

  it("should label a namespace the chart creates to enforce the restricted profile", () => {
    const ns = rendered([{ namespace: { create: true, name: "agents" } }]).one("Namespace");
    expect(ns.metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });
});
