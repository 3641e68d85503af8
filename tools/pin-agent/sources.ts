// The two places Microsoft publishes the hashes, read over HTTPS. Only metadata is fetched: the
// package itself is never downloaded, so no hash here is ever computed from the bytes it vouches for.
import type { AgentPlatform } from "../../generator/contract/release.ts";
import { PinError } from "./pin-error.ts";
import { AGENT_REPOSITORY } from "./release-notes.ts";

export const GITHUB_API = "https://api.github.com";

/** The api-version the image sends for `packages` (agent-image/lib/ado.sh, ado-contract.md §1.3). */
const PACKAGES_API_VERSION = "5.1-preview.2";
const TIMEOUT_MS = 30_000;

export interface Fetched {
  readonly json: unknown;
  /** The URL read, for messages and the pin's `sources`. */
  readonly url: string;
}

/**
 * `GET {api}/repos/microsoft/azure-pipelines-agent/releases/tags/v<version>`. `githubToken` only
 * raises the anonymous rate limit; it is sent to api.github.com and nowhere else.
 */
export async function fetchGitHubRelease(api: string, version: string, githubToken: string | undefined): Promise<Fetched> {
  const url = `${api.replace(/\/+$/, "")}/repos/${AGENT_REPOSITORY}/releases/tags/v${version}`;
  const headers: Record<string, string> = { Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "azp-agent-pin" };
  if (githubToken && new URL(url).origin === GITHUB_API) headers["Authorization"] = `Bearer ${githubToken}`;
  const response = await get(url, headers);
  if (response.status === 404) {
    throw new PinError(`GitHub has no release v${version} of ${AGENT_REPOSITORY} (GET ${url} answered 404): check the version at https://github.com/${AGENT_REPOSITORY}/releases`);
  }
  if (response.status === 403 || response.status === 429) {
    throw new PinError(`GET ${url} answered ${response.status} (GitHub's rate limit for anonymous calls): set GITHUB_TOKEN, wait, or save the release JSON elsewhere and pass --from-file`);
  }
  return { json: await jsonOf(response, url, "GitHub"), url };
}

/** `GET {org}/_apis/distributedtask/packages/agent?platform=<p>` with the PAT as Basic password (§1.2). */
export async function fetchPackageList(orgUrl: string, platform: AgentPlatform, pat: string): Promise<Fetched> {
  const url = `${orgUrl.replace(/\/+$/, "")}/_apis/distributedtask/packages/agent?platform=${platform}&api-version=${PACKAGES_API_VERSION}`;
  const response = await get(url, {
    Accept: "application/json",
    Authorization: `Basic ${Buffer.from(`:${pat}`).toString("base64")}`,
    // Without it the service may answer a bad PAT with a 203 sign-in page (§2).
    "X-TFS-FedAuthRedirect": "Suppress",
  });
  if (response.status === 401 || response.status === 403) {
    throw new PinError(`GET ${url} answered ${response.status}: the PAT in AZP_TOKEN was not accepted; it needs the Agent Pools (Read) scope in this organization`);
  }
  return { json: await jsonOf(response, url, "Azure DevOps"), url };
}

async function get(url: string, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetch(url, { headers, redirect: "follow", signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new PinError(`could not reach ${url} (${cause}): check the network or proxy, or pin offline with --from-file`);
  }
}

async function jsonOf(response: Response, url: string, service: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new PinError(`GET ${url} answered ${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  if (!(response.headers.get("content-type") ?? "").includes("json")) {
    throw new PinError(`GET ${url} answered ${response.status} with ${response.headers.get("content-type") ?? "no content type"}, not JSON (a sign-in or proxy page?): ${service} did not answer`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new PinError(`GET ${url} answered text that is not JSON: ${text.slice(0, 200)}`);
  }
}
