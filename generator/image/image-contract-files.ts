import { agentIgnoredEnv, agentProxyEnv, federatedTokenFilePath, imageContract, tokenFilePath } from "../contract/image.ts";
import { agentPackageUrl, release } from "../contract/release.ts";
import type { GeneratedFiles } from "../chart/files.ts";
import { generatedHeader } from "../generated-header.ts";

const SHELL_HEADER = `${generatedHeader.hash("generator/image/image-contract-files.ts from generator/contract/*.ts")}\n`;

/** Upper-snake name of a camelCase contract key: `bakedAgent` → `BAKED_AGENT`. */
function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

function shellAssign(name: string, value: string | number): string {
  // Contract values are simple tokens (paths, numbers, names); single quotes keep them literal.
  return `${name}='${String(value)}'`;
}

/** `agent-image/generated/contract.sh`: sourced by every command in the image. */
export function contractShell(): string {
  const c = imageContract;
  const lines: string[] = [SHELL_HEADER, "# shellcheck shell=bash disable=SC2034"];
  lines.push(shellAssign("AZP_CONTRACT_USER", c.user.name), shellAssign("AZP_CONTRACT_UID", c.user.uid), shellAssign("AZP_CONTRACT_GID", c.user.gid));
  for (const [key, value] of Object.entries(c.paths)) lines.push(shellAssign(`AZP_PATH_${snake(key)}`, value));
  for (const [key, value] of Object.entries(c.stateFiles)) lines.push(shellAssign(`AZP_STATE_FILE_${snake(key)}`, value));
  for (const [key, value] of Object.entries(c.sidecarFiles)) lines.push(shellAssign(`AZP_SIDECAR_FILE_${snake(key)}`, value));
  // Exit codes: readonly, so no command can reassign one by accident.
  for (const [key, value] of Object.entries(c.exitCodes)) lines.push(`readonly ${shellAssign(`EXIT_${snake(key)}`, value)}`);
  lines.push(shellAssign("AZP_TOKEN_FILE_DEFAULT", tokenFilePath));
  lines.push(shellAssign("AZP_FEDERATED_TOKEN_FILE_DEFAULT", federatedTokenFilePath));
  lines.push(shellAssign("AZP_AUTH_MODES", c.authModes.join(" ")));
  lines.push(shellAssign("AZP_ENTRA_RESOURCE", c.entra.azureDevOpsResource));
  lines.push(shellAssign("AZP_ENTRA_AUTHORITY_HOST_DEFAULT", c.entra.authorityHost));
  lines.push(shellAssign("AZP_PLACEHOLDER_SYSTEM_CAPABILITIES", JSON.stringify(c.placeholderSystemCapabilities)));
  lines.push(shellAssign("AZP_AGENT_IGNORE_DEFAULT", agentIgnoredEnv().join(",")));
  for (const [key, value] of Object.entries(agentProxyEnv)) lines.push(shellAssign(`AZP_AGENT_PROXY_${snake(key)}_VAR`, value));
  lines.push(shellAssign(c.capabilityEnv.imageVersion, release.imageTag), shellAssign(c.capabilityEnv.bakedAgentVersion, release.agentVersion));
  return `${lines.join("\n")}\n`;
}

/** `agent-image/generated/build-args.env`: KEY=VALUE pairs tools/build-image.sh passes as --build-arg. */
export function buildArgs(): string {
  const c = imageContract;
  const args: Record<string, string | number> = {
    AZP_USER: c.user.name,
    AZP_UID: c.user.uid,
    AZP_GID: c.user.gid,
    AZP_BAKED_AGENT_DIR: c.paths.bakedAgent,
    AZP_BIN_DIR: c.paths.bin,
    AZP_CONTRACT_SCRIPT: c.paths.contractScript,
    AZP_HOME: c.paths.home,
    AZP_STOPSIGNAL: c.stopSignal,
    AZP_IMAGE_VERSION: release.imageTag,
    AZP_AGENT_VERSION: release.agentVersion,
    AZP_AGENT_SHA256_LINUX_X64: release.agentPackageSha256["linux-x64"],
    AZP_AGENT_SHA256_LINUX_ARM64: release.agentPackageSha256["linux-arm64"],
    AZP_AGENT_PACKAGE_URL_LINUX_X64: agentPackageUrl(release.agentVersion, "linux-x64"),
    AZP_AGENT_PACKAGE_URL_LINUX_ARM64: agentPackageUrl(release.agentVersion, "linux-arm64"),
    AZP_IMAGE_SOURCE: release.home,
    AZP_IMAGE_DESCRIPTION: release.description,
  };
  const body = Object.entries(args).map(([k, v]) => `${k}=${v}`).join("\n");
  return `${SHELL_HEADER}${body}\n`;
}

export function imageFiles(files: GeneratedFiles): void {
  files.add("agent-image/generated/contract.sh", contractShell());
  files.add("agent-image/generated/build-args.env", buildArgs());
}
