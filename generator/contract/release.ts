import agentPin from "./agent-pin.json" with { type: "json" };

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
  /**
   * THE publishing coordinate (README "Releasing"): the OCI namespace the image and the chart are
   * pushed to and pulled from. The image is `<registry>/<imageName>`, the chart
   * `oci://<registry>/charts/<chartName>`; `tools/release.sh --registry` publishes elsewhere
   * (a fork, a mirror, the tests' local registry) and stamps that registry into the chart.
   */
  readonly registry: string;
  /** Last path element of the image repository. */
  readonly imageName: string;
  /** Azure Pipelines agent baked into the image by default (agent-pin.json, `npm run pin-agent`). */
  readonly agentVersion: string;
  /**
   * SHA-256 of Microsoft's agent package per platform for `agentVersion`, as Microsoft publishes
   * it (release notes or the service's hashValue), recorded in agent-pin.json by `npm run
   * pin-agent`. Empty means "not recorded yet": the image build then refuses the real package
   * unless a hash is passed explicitly — nothing unpinned reaches the image.
   */
  readonly agentPackageSha256: Readonly<Record<AgentPlatform, string>>;
  /** Kubernetes versions the chart supports (Chart.yaml `kubeVersion`); native sidecars need 1.29. */
  readonly kubeVersion: string;
  /** The source repository (Chart.yaml `home`, the image's `org.opencontainers.image.source`). */
  readonly home: string;
  readonly description: string;
  /** SPDX identifier of the project's license (LICENSE; Artifact Hub's `license` annotation). */
  readonly license: string;
}

/** Docker TARGETARCH → agent package platform (`_apis/distributedtask/packages/agent?platform=`). */
export const agentPlatforms = { amd64: "linux-x64", arm64: "linux-arm64" } as const;
export type AgentPlatform = (typeof agentPlatforms)[keyof typeof agentPlatforms];

export const release: ReleaseContract = {
  chartName: "azp-agent",
  chartVersion: "0.1.0",
  imageTag: "0.1.0",
  registry: "ghcr.io/azp-agent",
  imageName: "azp-agent",
  agentVersion: agentPin.version,
  agentPackageSha256: agentPin.sha256,
  kubeVersion: ">=1.29.0-0",
  home: "https://github.com/azp-agent/azp-agent",
  description: "Fully ephemeral self-hosted Azure Pipelines agents: one job per pod, credentials out of the job's reach.",
  license: "MIT",
};

/** Image repository under an OCI namespace (`release.registry` or a release's `--registry`). */
export function imageRepositoryIn(registry: string): string {
  return `${registry}/${release.imageName}`;
}

/** `helm install` / `helm push` location of the chart under an OCI namespace (without the chart name). */
export function chartRepositoryIn(registry: string): string {
  return `oci://${registry}/charts`;
}

/**
 * What a release adds to the chart it publishes (tools/release.sh → `generator/cli.ts --stamp`):
 * the registry it went to and the digest of the multi-arch image index, so that the published
 * chart pulls `<repository>:<tag>@<digest>`, and the cosign key its artifacts are signed with.
 * The committed chart is the unstamped one (`devStamp`): tag only, the default registry.
 */
export interface ReleaseStamp {
  readonly registry: string;
  /** `sha256:<64 hex>` of the image index; "" = not released (tag only). */
  readonly imageDigest: string;
  /** SHA-256 fingerprint (hex) of the cosign public key; absent = not signed. */
  readonly signKeyFingerprint?: string;
}

export const devStamp: ReleaseStamp = { registry: release.registry, imageDigest: "" };

/** Where a release publishes the cosign public key its artifacts verify against. */
export function signKeyUrl(): string {
  return `${release.home}/releases/download/v${release.chartVersion}/cosign.pub`;
}

/** The real download location of agent packages (ado-contract.md §3.3, since 2025-05). */
export function agentPackageUrl(version: string, platform: AgentPlatform): string {
  return `https://download.agent.dev.azure.com/agent/${version}/vsts-agent-${platform}-${version}.tar.gz`;
}
