import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyEgressRule } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyEgressRule";
import { component, componentLabel } from "../contract/components.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper } from "./helper-names.ts";
import { fullname, metadata } from "./pod-parts.ts";

/**
 * `networkPolicy.enabled` (issue #10): what each pod of the release may reach. No pod accepts
 * connections (no ingress rule); egress is an allow-list per kind of pod:
 *
 * Every kind also reaches Microsoft Entra with `azp.auth` servicePrincipal or workloadIdentity.
 *
 *   agents     DNS, Azure DevOps, the API server (only the Deployment's pods: their sidecar
 *              deletes its pod; KEDA's Job pods have no Kubernetes token), `extraEgress` (the
 *              jobs' own destinations).
 *   cronjobs   DNS, Azure DevOps, the API server (the refresher patches its Deployment, the
 *              collector reads and deletes pods).
 *   hooks      DNS, Azure DevOps (helm test and the placeholder hooks).
 *
 * NetworkPolicies add up, so no rule here may open the cloud metadata addresses: each chart-made
 * ipBlock excepts those it holds, and `extraEgress` is refused when one of its ipBlocks holds one
 * without excepting it (networkPolicyCheck), unless `allowMetadata`.
 */

const enabled = v("networkPolicy.enabled").path;

function ipBlocks(t: TemplateDocument, cidrsKey: string): object[] {
  return t.eachItems(`$cidr := ${v(cidrsKey).path}`, [
    { ipBlock: { cidr: t.str("$cidr | quote"), except: t.block<string[]>(`include "${helper.metadataExcept}" (dict "cidr" $cidr "root" $)`) } },
  ]);
}

const tcpPorts = (t: TemplateDocument, portsKey: string): object[] => t.eachItems(`$port := ${v(portsKey).path}`, [{ protocol: "TCP", port: t.int("$port") }]);

const dns = (t: TemplateDocument): INetworkPolicyEgressRule => ({
  to: t.block(v("networkPolicy.dns").yaml),
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
});
const azureDevOps = (t: TemplateDocument): INetworkPolicyEgressRule => ({ to: ipBlocks(t, "networkPolicy.azureDevOps.cidrs"), ports: tcpPorts(t, "networkPolicy.azureDevOps.ports") });
const apiServer = (t: TemplateDocument): INetworkPolicyEgressRule => ({ to: ipBlocks(t, "networkPolicy.apiServer.cidrs"), ports: tcpPorts(t, "networkPolicy.apiServer.ports") });
/** Microsoft Entra, in the identity modes that get tokens from it (every pod that talks to Azure DevOps). */
const entra = (t: TemplateDocument): INetworkPolicyEgressRule[] =>
  t.whenItems(`ne ${v("azp.auth").path} "pat"`, [{ to: ipBlocks(t, "networkPolicy.entra.cidrs"), ports: tcpPorts(t, "networkPolicy.entra.ports") }]);

/** One policy over the release's pods of `components`. */
function policy(t: TemplateDocument, suffix: string, components: string[], egress: INetworkPolicyEgressRule[]): object {
  return new NetworkPolicy({
    metadata: metadata(t, `printf "%s-${suffix}" (${fullname()})`, component.networkPolicy),
    spec: {
      podSelector: {
        matchLabels: { ...t.includeEntries(helper.selectorLabels) },
        matchExpressions: [{ key: componentLabel, operator: "In", values: components }],
      },
      policyTypes: ["Ingress", "Egress"],
      egress,
    },
  }).toJSON();
}

export const networkPolicyTemplate: ChartTemplate = {
  file: "networkpolicy.yaml",
  source: "generator/templates/network-policy.ts",
  preamble: `{{- if ${enabled} }}{{- include "${helper.networkPolicyCheck}" . }}{{- end }}\n`,
  documents: (t) => [
    {
      guard: enabled,
      object: policy(t, "agents", [component.agent], [
        dns(t),
        azureDevOps(t),
        ...entra(t),
        ...t.whenItems(`not ${v("autoscaling.enabled").path}`, [apiServer(t)]),
        t.spliceItems<INetworkPolicyEgressRule>(v("networkPolicy.extraEgress").path),
      ]),
    },
    { guard: enabled, object: policy(t, "cronjobs", [component.refresh, component.gc], [dns(t), azureDevOps(t), ...entra(t), apiServer(t)]) },
    { guard: enabled, object: policy(t, "hooks", [component.test, component.placeholder], [dns(t), azureDevOps(t), ...entra(t)]) },
  ],
};
