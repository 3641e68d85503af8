// `npm run pin-agent -- <version>`: records an agent version and Microsoft's SHA-256 of its
// packages in the contract's pin file. I/O (arguments, files, HTTP, output) is passed in, so tests
// run the whole command in-process against recorded samples and the fake Azure DevOps.
import { readFile, writeFile } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { AgentPlatform } from "../../generator/contract/release.ts";
import { isAgentVersion, pinnedPlatforms } from "./agent-package.ts";
import { hashFromPackageMetadata } from "./package-metadata.ts";
import { PinError, UsageError } from "./pin-error.ts";
import { DEFAULT_PIN_FILE, formatPin, parsePin, type AgentPin } from "./pin-file.ts";
import { hashesFromReleaseNotes, parseGitHubRelease } from "./release-notes.ts";
import { GITHUB_API, fetchGitHubRelease, fetchPackageList } from "./sources.ts";

export const USAGE = `usage: npm run pin-agent -- <version> [options]

Records <version> (major.minor.patch) of the Azure Pipelines agent and Microsoft's SHA-256 of its
${pinnedPlatforms.join(" and ")} packages in generator/contract/agent-pin.json. The hashes come from
Microsoft's release notes (GitHub release v<version> of microsoft/azure-pipelines-agent) and, with
--org-url, from the service's package metadata (hashValue); when both are read they must agree.
The packages themselves are never downloaded. Afterwards run: npm run generate

options:
  --from-file <json>   the GitHub release JSON from a file instead of api.github.com (offline)
  --org-url <url>      also read hashValue from https://dev.azure.com/<org> (PAT in AZP_TOKEN)
  --no-github          read only the service (needs --org-url)
  --github-api <url>   GitHub API base (default ${GITHUB_API})
  --pin-file <path>    the pin file to rewrite (default generator/contract/agent-pin.json)
  --dry-run            print what would change, write nothing
  -h, --help           this text

environment: AZP_TOKEN (PAT with Agent Pools (Read), for --org-url),
             GITHUB_TOKEN (optional, raises GitHub's anonymous rate limit)`;

export interface CommandIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths in arguments resolve against it. */
  readonly cwd: string;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

interface Options {
  readonly version: string;
  readonly fromFile: string | undefined;
  readonly orgUrl: string | undefined;
  readonly github: boolean;
  readonly githubApi: string;
  readonly pinFile: string;
  readonly dryRun: boolean;
}

/** Runs the command; resolves to its exit code (0 done, 1 refused or failed, 2 bad command line). */
export async function pinAgentCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    const options = parseOptions(argv, io);
    if (options === "help") {
      io.out(USAGE);
      return 0;
    }
    await pin(options, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`pin-agent: ${error.message}`);
      io.err("run `npm run pin-agent -- --help` for the options");
      return 2;
    }
    io.err(`pin-agent: ${error instanceof PinError ? error.message : String((error as Error).stack ?? error)}`);
    io.err("pin-agent: nothing was written");
    return 1;
  }
}

function parseOptions(argv: readonly string[], io: CommandIo): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        "from-file": { type: "string" },
        "org-url": { type: "string" },
        "no-github": { type: "boolean", default: false },
        "github-api": { type: "string", default: GITHUB_API },
        "pin-file": { type: "string" },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  const [version, ...extra] = positionals;
  if (version === undefined) throw new UsageError("which version? e.g. npm run pin-agent -- 4.269.0");
  if (extra.length > 0) throw new UsageError(`one version at a time, got ${positionals.join(" ")}`);
  if (!isAgentVersion(version)) {
    throw new UsageError(`version '${version}' is not major.minor.patch (e.g. 4.269.0, without a leading v or a suffix)`);
  }
  const github = !values["no-github"];
  const orgUrl = values["org-url"];
  if (!github && orgUrl === undefined) throw new UsageError("--no-github leaves no source: add --org-url <organization URL> (and AZP_TOKEN)");
  if (!github && values["from-file"] !== undefined) throw new UsageError("--from-file is the GitHub release: it cannot go with --no-github");
  if (orgUrl !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(orgUrl)) throw new UsageError(`--org-url '${orgUrl}' is not an organization URL such as https://dev.azure.com/<organization>`);
    if (!io.env["AZP_TOKEN"]) throw new UsageError("--org-url needs a PAT in the environment variable AZP_TOKEN (Agent Pools (Read) scope); it is never taken on the command line");
  }
  return {
    version,
    fromFile: values["from-file"] === undefined ? undefined : resolve(io.cwd, values["from-file"]),
    orgUrl,
    github,
    githubApi: values["github-api"],
    pinFile: values["pin-file"] === undefined ? DEFAULT_PIN_FILE : resolve(io.cwd, values["pin-file"]),
    dryRun: values["dry-run"],
  };
}

async function pin(options: Options, io: CommandIo): Promise<void> {
  const { version } = options;
  const pinName = relative(io.cwd, options.pinFile) || options.pinFile;
  const current = parsePin(await readText(options.pinFile, "the pin file"), pinName);

  let hashes: Record<AgentPlatform, string> | undefined;
  const sources: string[] = [];
  if (options.github) {
    const { json, origin } = options.fromFile
      ? { json: parseJson(await readText(options.fromFile, "--from-file"), options.fromFile), origin: relative(io.cwd, options.fromFile) }
      : await fetchGitHubRelease(options.githubApi, version, io.env["GITHUB_TOKEN"]).then(({ json, url }) => ({ json, origin: url }));
    const release = parseGitHubRelease(json, version, origin);
    const where = `the release v${version} (${origin})`;
    hashes = hashesFromReleaseNotes(release.body, version, where);
    io.out(`pin-agent: ${where}: ${describe(hashes)}`);
    if (release.prerelease) io.out(`pin-agent: note: GitHub marks v${version} as a pre-release (Microsoft may still be rolling it out)`);
    sources.push(`${release.htmlUrl} (release notes)`);
  }
  if (options.orgUrl !== undefined) {
    const pat = io.env["AZP_TOKEN"] ?? "";
    const fromService = {} as Record<AgentPlatform, string>;
    let endpoint = "";
    for (const platform of pinnedPlatforms) {
      const { json, url } = await fetchPackageList(options.orgUrl, platform, pat);
      endpoint = url.slice(0, url.indexOf("?"));
      fromService[platform] = hashFromPackageMetadata(json, platform, version, `GET ${url}`);
      const noted = hashes?.[platform];
      if (noted !== undefined && noted !== fromService[platform]) {
        throw new PinError(
          `the release notes and ${options.orgUrl} disagree on the ${platform} package of ${version}: notes ${noted}, service hashValue ${fromService[platform]}. ` +
            `Refusing to pin; report it to Microsoft (${sources[0] ?? "the release page"}) or pin another version.`,
        );
      }
    }
    io.out(`pin-agent: ${endpoint} hashValue: ${describe(fromService)}${hashes ? " (agrees with the release notes)" : ""}`);
    hashes ??= fromService;
    sources.push(`${endpoint} (hashValue)`);
  }
  if (hashes === undefined) throw new PinError("no source was read (a bug: options allowed it)");

  const next: AgentPin = { version, sha256: hashes, sources };
  const changes = describeChanges(current, next);
  if (changes.length === 0) {
    io.out(`pin-agent: ${pinName} already records ${version} with these hashes; nothing changed`);
    return;
  }
  io.out(`pin-agent: ${pinName}:`);
  for (const line of changes) io.out(`  ${line}`);
  if (options.dryRun) {
    io.out("pin-agent: dry run, nothing written");
    return;
  }
  await writeFile(options.pinFile, formatPin(next));
  io.out(`pin-agent: wrote ${pinName}; next: npm run generate, then review git diff`);
}

function describe(hashes: Record<AgentPlatform, string>): string {
  return pinnedPlatforms.map((platform) => `${platform} ${hashes[platform]}`).join(", ");
}

function describeChanges(current: AgentPin, next: AgentPin): string[] {
  const rows: [string, string, string][] = [["version", current.version, next.version]];
  for (const platform of pinnedPlatforms) rows.push([platform, current.sha256[platform] || "(none)", next.sha256[platform]]);
  rows.push(["sources", current.sources.join("; ") || "(none)", next.sources.join("; ")]);
  if (rows.every(([, before, after]) => before === after)) return [];
  return rows.map(([name, before, after]) => (before === after ? `${name.padEnd(12)}${after} (unchanged)` : `${name.padEnd(12)}${before} -> ${after}`));
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new PinError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PinError(`${path} is not JSON (${(error as Error).message}): save the answer of GET https://api.github.com/repos/microsoft/azure-pipelines-agent/releases/tags/v<version>`);
  }
}
