// Microsoft's release notes of microsoft/azure-pipelines-agent: the GitHub release `v<version>`
// whose markdown body has an "Agent Downloads" table, one row per package:
//
//   | Linux x64      | [vsts-agent-linux-x64-<v>.tar.gz](https://download.agent.dev.azure.com/agent/<v>/vsts-agent-linux-x64-<v>.tar.gz) | <sha256> |
//
// Microsoft's release pipeline fills the SHA-256 column from the hashes its build computed
// (azure-pipelines-agent PR #3517, 2021); older notes have no such column, rows it could not fill
// keep a placeholder or a dash, and an "Alternate Agent Downloads" table lists `pipelines-agent-*`
// packages under the same row labels. So a row is found by its package file name, never by its
// label, and every row naming the package must carry the same hash. Samples of each shape:
// test/unit/fixtures/agent-pin/README.md.
import type { AgentPlatform } from "../../generator/contract/release.ts";
import { agentPackageFilename, isSha256, pinnedPlatforms } from "./agent-package.ts";
import { PinError } from "./pin-error.ts";

export const AGENT_REPOSITORY = "microsoft/azure-pipelines-agent";

/** The page a person checks: where the notes of `version` are published. */
export function releasePageUrl(version: string): string {
  return `https://github.com/${AGENT_REPOSITORY}/releases/tag/v${version}`;
}

/** The fields of GitHub's release object (`GET /repos/{owner}/{repo}/releases/tags/{tag}`) the command reads. */
export interface GitHubRelease {
  readonly tagName: string;
  readonly htmlUrl: string;
  readonly prerelease: boolean;
  readonly body: string;
}

/** Reads a release object; `where` names its origin (URL or file) in errors. */
export function parseGitHubRelease(json: unknown, version: string, where: string): GitHubRelease {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new PinError(`${where} is not a GitHub release object: expected the JSON of GET /repos/${AGENT_REPOSITORY}/releases/tags/v${version}`);
  }
  const release = json as Record<string, unknown>;
  const { tag_name: tagName, body, html_url: htmlUrl, prerelease } = release;
  if (typeof tagName !== "string" || typeof body !== "string") {
    throw new PinError(`${where} is not a GitHub release object (no 'tag_name' or 'body' string): expected the JSON of GET /repos/${AGENT_REPOSITORY}/releases/tags/v${version}`);
  }
  if (tagName !== `v${version}`) {
    throw new PinError(`${where} is the release ${tagName}, not v${version}: pass the release of the version you pin`);
  }
  return {
    tagName,
    htmlUrl: typeof htmlUrl === "string" && htmlUrl !== "" ? htmlUrl : releasePageUrl(version),
    prerelease: prerelease === true,
    body,
  };
}

/**
 * The SHA-256 of each pinned platform's package as the notes list it, lowercase. Refuses a
 * package the notes do not list, a row without a 64-hex hash, and two rows that disagree.
 */
export function hashesFromReleaseNotes(body: string, version: string, where: string): Record<AgentPlatform, string> {
  const rows = tableRows(body);
  const hashes = {} as Record<AgentPlatform, string>;
  for (const platform of pinnedPlatforms) {
    const filename = agentPackageFilename(platform, version);
    const found = new Set<string>();
    for (const cells of rows) {
      const at = cells.findIndex((cell) => packageNameOf(cell) === filename);
      if (at < 0) continue;
      const cell = unquote(cells[at + 1] ?? "");
      if (!isSha256(cell.toLowerCase())) {
        throw new PinError(
          `${where} lists ${filename} without a SHA-256 (its hash cell reads '${cell}'): Microsoft published no hash for it there. ` +
            `Pin a version whose notes list one, or take the service's hashValue (--org-url).`,
        );
      }
      found.add(cell.toLowerCase());
    }
    const [hash, ...others] = [...found];
    if (hash === undefined) {
      throw new PinError(
        `${where} lists no ${filename}: the release has no ${platform} package, or its notes changed format. ` +
          `Check ${releasePageUrl(version)} and pin a version that lists one.`,
      );
    }
    if (others.length > 0) {
      throw new PinError(`${where} lists ${filename} with ${found.size} different SHA-256 values (${[...found].join(", ")}): refusing to guess. Check ${releasePageUrl(version)}.`);
    }
    hashes[platform] = hash;
  }
  return hashes;
}

/** The cells of every markdown table row (`| a | b |`), trimmed, outer pipes dropped. */
function tableRows(body: string): string[][] {
  return body
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith("|"))
    .map((line) => line.replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim()));
}

/** A package cell is the file name, as a markdown link (`[name](url)`) or as plain text. */
function packageNameOf(cell: string): string {
  const link = /^\[([^\]]*)\]\([^)]*\)$/.exec(cell);
  return unquote(link?.[1] ?? cell);
}

function unquote(text: string): string {
  return text.replace(/^`(.*)`$/, "$1").trim();
}
