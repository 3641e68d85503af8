/**
 * Release coordinates: the one place versions live. Chart.yaml, the image build arguments,
 * the image labels and the docs are all derived from here (style.md rule 1).
 */
export interface ReleaseContract {
  /** Chart name; also the prefix of every named template (`azp-agent.fullname`, ...). */
  readonly chartName: string;
  /** SemVer of the chart. */
  readonly chartVersion: string;
  /** Tag of the agent image this chart version is tested with; Chart.yaml `appVersion`. */
  readonly imageTag: string;
  /** Default image repository users pull from. */
  readonly imageRepository: string;
  /** OCI location the chart is published to (`helm install oci://…`). */
  readonly chartRepository: string;
  /** Azure Pipelines agent baked into the image by default. */
  readonly agentVersion: string;
  /**
   * SHA-256 of Microsoft's agent package per platform for `agentVersion`, as published in the
   * agent's release notes. Empty means "not recorded yet": the image build then refuses the
   * real package unless a hash is passed explicitly — nothing unpinned reaches the image.
   */
  readonly agentPackageSha256: Readonly<Record<AgentPlatform, string>>;
  /** Kubernetes versions the chart supports (Chart.yaml `kubeVersion`); native sidecars need 1.29. */
  readonly kubeVersion: string;
  readonly home: string;
  readonly description: string;
}

/** Docker TARGETARCH → agent package platform (`_apis/distributedtask/packages/agent?platform=`). */
export const agentPlatforms = { amd64: "linux-x64", arm64: "linux-arm64" } as const;
export type AgentPlatform = (typeof agentPlatforms)[keyof typeof agentPlatforms];

export const release: ReleaseContract = {
  chartName: "azp-agent",
  chartVersion: "0.1.0",
  imageTag: "0.1.0",
  imageRepository: "ghcr.io/azp-agent/azp-agent",
  chartRepository: "oci://ghcr.io/azp-agent/charts",
  agentVersion: "4.264.2",
  agentPackageSha256: { "linux-x64": "", "linux-arm64": "" },
  kubeVersion: ">=1.29.0-0",
  home: "https://github.com/azp-agent/azp-agent",
  description: "Fully ephemeral self-hosted Azure Pipelines agents: one job per pod, credentials out of the job's reach.",
};

/** The real download location of agent packages (ado-contract.md §3.3, since 2025-05). */
export function agentPackageUrl(version: string, platform: AgentPlatform): string {
  return `https://download.agent.dev.azure.com/agent/${version}/vsts-agent-${platform}-${version}.tar.gz`;
}
