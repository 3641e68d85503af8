// generator/contract/agent-pin.json: the agent version the image bakes and Microsoft's SHA-256 of
// its packages. Data, not TypeScript, so that the pin command rewrites a whole file from a value
// and never edits source text; release.ts imports it.
import { fileURLToPath } from "node:url";
import type { AgentPlatform } from "../../generator/contract/release.ts";
import { isAgentVersion, isSha256, pinnedPlatforms } from "./agent-package.ts";
import { PinError } from "./pin-error.ts";

/** The pin the contract imports. */
export const DEFAULT_PIN_FILE: string = fileURLToPath(new URL("../../generator/contract/agent-pin.json", import.meta.url));

const COMMENT = "Written by `npm run pin-agent -- <version>` (agent-image/README.md): hashes come from Microsoft (release notes or the service's hashValue), never from the download. Then run `npm run generate`.";

export interface AgentPin {
  /** `major.minor.patch` of the agent the image bakes. */
  readonly version: string;
  /** Lowercase 64-hex SHA-256 per platform; "" = not recorded (the image build then refuses the real package). */
  readonly sha256: Readonly<Record<AgentPlatform, string>>;
  /** Where the hashes were read (release page, service endpoint); empty while none is recorded. */
  readonly sources: readonly string[];
}

/** Parses and checks a pin file's text; `where` names the file in errors. */
export function parsePin(text: string, where: string): AgentPin {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PinError(`${where} is not JSON (${(error as Error).message}): restore it with git checkout, then pin again`);
  }
  const pin = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  const { version, sha256, sources } = pin;
  if (typeof version !== "string" || !isAgentVersion(version)) {
    throw new PinError(`${where}: 'version' must be major.minor.patch, got ${JSON.stringify(version)}`);
  }
  const hashes = (typeof sha256 === "object" && sha256 !== null ? sha256 : {}) as Record<string, unknown>;
  const extra = Object.keys(hashes).filter((key) => !(pinnedPlatforms as readonly string[]).includes(key));
  if (extra.length > 0) throw new PinError(`${where}: 'sha256' has platforms the image does not bake (${extra.join(", ")}); only ${pinnedPlatforms.join(", ")}`);
  const recorded = {} as Record<AgentPlatform, string>;
  for (const platform of pinnedPlatforms) {
    const hash = hashes[platform];
    if (typeof hash !== "string" || (hash !== "" && !isSha256(hash))) {
      throw new PinError(`${where}: 'sha256.${platform}' must be "" or a lowercase 64-hex SHA-256, got ${JSON.stringify(hash)}`);
    }
    recorded[platform] = hash;
  }
  if (!Array.isArray(sources) || !sources.every((source) => typeof source === "string")) {
    throw new PinError(`${where}: 'sources' must be a list of strings`);
  }
  if (Object.values(recorded).some((hash) => hash !== "") && sources.length === 0) {
    throw new PinError(`${where}: a recorded hash needs its source in 'sources' (where Microsoft published it)`);
  }
  return { version, sha256: recorded, sources: sources as string[] };
}

/** The file's whole text for `pin`: stable key order, two-space indent, trailing newline. */
export function formatPin(pin: AgentPin): string {
  const sha256 = Object.fromEntries(pinnedPlatforms.map((platform) => [platform, pin.sha256[platform]]));
  return `${JSON.stringify({ $comment: COMMENT, version: pin.version, sha256, sources: pin.sources }, null, 2)}\n`;
}
