import { component, componentLabel } from "../contract/components.ts";
import type { JsonValue } from "../model/value-spec.ts";

/**
 * The chart's ci/ scenarios: one values file per case (prometheus-community layout). ct lint and
 * ct install read them; the render, schema and golden tests iterate over them.
 */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly values: { [key: string]: JsonValue };
}

const connection = { url: "https://dev.azure.com/contoso", pool: "k8s-pool" };

export const scenarios: Scenario[] = [
  {
    name: "defaults",
    description: "Only the three required settings: URL, pool and PAT.",
    values: { azp: { ...connection, token: "ci-fake-pat-0000" } },
  },
  {
    name: "team",
    description: "A team's override: existing Secret, node selection, resources, extra env, capabilities, proxy.",
    values: {
      azp: { url: "https://dev.azure.com/contoso", pool: "team-a", existingSecret: "team-a-pat", existingSecretKey: "pat" },
      replicaCount: 2,
      nodeSelector: { "kubernetes.io/os": "linux", "agentpool": "builds" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "builds", effect: "NoSchedule" }],
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { [componentLabel]: component.agent } } } },
          ],
        },
      },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { [componentLabel]: component.agent } } }],
      resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: 2, memory: "4Gi" } },
      extraEnv: [{ name: "NUGET_PACKAGES", value: "/azp/_work/.nuget" }, { name: "TEAM", value: "a" }],
      extraVolumes: [{ name: "cache", emptyDir: { sizeLimit: "5Gi" } }],
      extraVolumeMounts: [{ name: "cache", mountPath: "/cache" }],
      agent: { capabilities: { dotnet: "8.0", java: "21" } },
      podAnnotations: { "team.example.com/cost-center": "1234" },
      podLabels: { team: "a" },
      priorityClassName: "builds",
      proxy: { httpsProxy: "http://proxy.internal:3128", noProxy: "10.0.0.0/8,.svc,.cluster.local" },
      imagePullSecrets: [{ name: "registry-cred" }],
      refresh: { schedule: "30 2 * * *", timeZone: "Europe/Berlin" },
    },
  },
  {
    name: "no-refresh",
    description: "Refresher off: no CronJob, no refresh identity.",
    values: { azp: { ...connection, token: "ci-fake-pat-0000" }, refresh: { enabled: false } },
  },
  {
    name: "existing-sa",
    description: "RBAC managed elsewhere: existing ServiceAccounts, no Roles.",
    values: {
      azp: { ...connection, token: "ci-fake-pat-0000" },
      rbac: { create: false },
      serviceAccount: { create: false, name: "platform-agent-sa" },
      refresh: { serviceAccount: { create: false, name: "platform-refresh-sa" } },
      gc: { serviceAccount: { create: false, name: "platform-gc-sa" } },
    },
  },
  {
    name: "namespace",
    description: "The chart creates the namespace its resources go to.",
    values: { azp: { ...connection, token: "ci-fake-pat-0000" }, namespace: { create: true, name: "azp-agents-ci" } },
  },
  {
    name: "download",
    description: "The article's behaviour: download the latest agent at pod start (https only), trusting an extra CA.",
    values: { azp: { ...connection, token: "ci-fake-pat-0000" }, agent: { source: "download" }, caBundle: { configMap: "azp-ca", key: "ca.pem" }, replicaCount: 1 },
  },
  {
    name: "isolation",
    description: "NetworkPolicies on: Azure DevOps and the API server narrowed to their ranges, and a package feed the jobs may reach.",
    values: {
      azp: { ...connection, token: "ci-fake-pat-0000" },
      networkPolicy: {
        enabled: true,
        azureDevOps: { cidrs: ["13.107.6.0/24", "13.107.9.0/24", "13.107.42.0/24", "13.107.43.0/24"] },
        apiServer: { cidrs: ["10.0.0.1/32"], ports: [443] },
        extraEgress: [{ to: [{ ipBlock: { cidr: "10.20.0.0/16" } }], ports: [{ protocol: "TCP", port: 443 }] }],
      },
    },
  },
];
