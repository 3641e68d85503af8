// The service's own package metadata: `GET {org}/_apis/distributedtask/packages/agent?platform=<p>`
// answers `{"count":N,"value":[PackageMetadata...]}`, newest first, each with `version`
// ({major,minor,patch}) and `hashValue` (ado-contract.md §3.3). `hashValue` may be absent
// (EmitDefaultValue=false; microsoft/azure-pipelines-agent#4380 reports a release without it), and
// the agent's own updater compares it ignoring '-' and case, so it is normalised the same way.
import type { AgentPlatform } from "../../generator/contract/release.ts";
import { isSha256 } from "./agent-package.ts";
import { PinError } from "./pin-error.ts";

/** The SHA-256 the service publishes for `platform`'s agent `version`, lowercase. */
export function hashFromPackageMetadata(json: unknown, platform: AgentPlatform, version: string, where: string): string {
  const value = typeof json === "object" && json !== null ? (json as Record<string, unknown>)["value"] : undefined;
  if (!Array.isArray(value)) {
    throw new PinError(`${where} is not a package list (expected {"count":N,"value":[...]}): check the organization URL`);
  }
  const entries = value.filter(isRecord).filter((entry) => (entry["type"] ?? "agent") === "agent" && String(entry["platform"] ?? "").toLowerCase() === platform);
  const matching = entries.filter((entry) => versionOf(entry) === version);
  if (matching.length === 0) {
    const offered = [...new Set(entries.map(versionOf).filter((v): v is string => v !== undefined))];
    throw new PinError(
      `${where} offers no ${platform} agent ${version} (it lists: ${offered.join(", ") || "none"}): the service lists only the versions it rolls out. ` +
        `Pin one of those, or take the hash from the release notes alone (without --org-url).`,
    );
  }
  const found = new Set<string>();
  for (const entry of matching) {
    const raw = entry["hashValue"];
    if (typeof raw !== "string" || raw === "") {
      throw new PinError(
        `${where} lists the ${platform} agent ${version} without a hashValue (the service omits it for some packages, microsoft/azure-pipelines-agent#4380): ` +
          `take the hash from the release notes instead (without --no-github).`,
      );
    }
    const hash = raw.replaceAll("-", "").toLowerCase();
    if (!isSha256(hash)) throw new PinError(`${where} lists the ${platform} agent ${version} with hashValue '${raw}', which is not a SHA-256: refusing to pin it`);
    found.add(hash);
  }
  const [hash, ...others] = [...found];
  if (hash === undefined || others.length > 0) {
    throw new PinError(`${where} lists the ${platform} agent ${version} with ${found.size} different hashValues (${[...found].join(", ")}): refusing to guess`);
  }
  return hash;
}

function isRecord(item: unknown): item is Record<string, unknown> {
  return typeof item === "object" && item !== null && !Array.isArray(item);
}

function versionOf(entry: Record<string, unknown>): string | undefined {
  const version = entry["version"];
  if (!isRecord(version)) return undefined;
  const { major, minor, patch } = version;
  return [major, minor, patch].every((part) => Number.isInteger(part)) ? `${String(major)}.${String(minor)}.${String(patch)}` : undefined;
}
