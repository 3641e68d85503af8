// What identifies one agent package: a version and a platform. The file name comes from the
// contract's download URL so that the name the command looks for in Microsoft's lists is the name
// the image build downloads (style.md rule 1).
import { agentPackageUrl, agentPlatforms, type AgentPlatform } from "../../generator/contract/release.ts";

/** The platforms the image bakes, in contract order (linux-x64, linux-arm64). */
export const pinnedPlatforms: readonly AgentPlatform[] = Object.values(agentPlatforms);

const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** `major.minor.patch`, no leading `v`, no pre-release suffix: the form of the agent's tags and download paths. */
export function isAgentVersion(version: string): boolean {
  return VERSION.test(version);
}

/** A lowercase 64-hex SHA-256, the form the contract records and the Dockerfile compares. */
export function isSha256(hash: string): boolean {
  return SHA256.test(hash);
}

/** `vsts-agent-linux-x64-4.264.2.tar.gz`: the last path segment of the contract's download URL. */
export function agentPackageFilename(platform: AgentPlatform, version: string): string {
  const path = new URL(agentPackageUrl(version, platform)).pathname;
  return path.slice(path.lastIndexOf("/") + 1);
}
