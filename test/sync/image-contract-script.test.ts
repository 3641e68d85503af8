import { describe, expect, it } from "vitest";
import { agentProxyEnv, imageContract } from "../../generator/contract/image.ts";
import { release } from "../../generator/contract/release.ts";
import { repoPath } from "../support/repo.ts";
import { runSync } from "../support/process.ts";

/** agent-image/generated/contract.sh, as bash sees it after `source`, equals the contract object. */

const CONTRACT_SH = repoPath("agent-image", "generated", "contract.sh");

/** Every variable with this prefix contract.sh defines, read from a clean bash that sourced it. */
function sourcedVariables(prefix = "AZP_"): Record<string, string> {
  const script = `set -euo pipefail; source "$1"; for n in $(compgen -v ${prefix}); do printf "%s=%s\\0" "$n" "\${!n}"; done`;
  const r = runSync("env", ["-i", "bash", "--noprofile", "--norc", "-c", script, "bash", CONTRACT_SH]);
  if (r.code !== 0) throw new Error(`sourcing ${CONTRACT_SH} failed: ${r.output}`);
  return Object.fromEntries(
    r.stdout
      .split("\0")
      .filter((entry) => entry !== "")
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
}

/** The shell naming convention of the contract: camelCase key → UPPER_SNAKE. */
const snake = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

describe("agent-image/generated/contract.sh", () => {
  const c = imageContract;
  const expected: Record<string, string> = {
    AZP_CONTRACT_USER: c.user.name,
    AZP_CONTRACT_UID: String(c.user.uid),
    AZP_CONTRACT_GID: String(c.user.gid),
    ...Object.fromEntries(Object.entries(c.paths).map(([k, value]) => [`AZP_PATH_${snake(k)}`, value])),
    ...Object.fromEntries(Object.entries(c.stateFiles).map(([k, value]) => [`AZP_STATE_FILE_${snake(k)}`, value])),
    ...Object.fromEntries(Object.entries(c.sidecarFiles).map(([k, value]) => [`AZP_SIDECAR_FILE_${snake(k)}`, value])),
    AZP_TOKEN_FILE_DEFAULT: `${c.paths.secrets}/${c.tokenFileName}`,
    AZP_FEDERATED_TOKEN_FILE_DEFAULT: "/azp/federated/token",
    AZP_AUTH_MODES: "pat servicePrincipal workloadIdentity",
    AZP_ENTRA_RESOURCE: "499b84ac-1321-427f-aa17-267ca6975798",
    AZP_ENTRA_AUTHORITY_HOST_DEFAULT: "https://login.microsoftonline.com/",
    AZP_PLACEHOLDER_SYSTEM_CAPABILITIES: JSON.stringify(c.placeholderSystemCapabilities),
    // Literal on purpose: the list a test must not recompute with the generator's own function.
    AZP_AGENT_IGNORE_DEFAULT:
      "AZP_URL,AZP_POOL,AZP_TOKEN_FILE,AZP_AUTH,AZURE_TENANT_ID,AZURE_CLIENT_ID,AZURE_AUTHORITY_HOST,AZURE_FEDERATED_TOKEN_FILE,AZP_AGENT_NAME,AZP_WORK,AZP_AGENT_SOURCE,AZP_AGENT_PACKAGE_URL,AZP_AGENT_PACKAGE_SHA256,AZP_DOWNLOAD_TIMEOUT_SECONDS," +
      "AZP_CONNECT_ATTEMPTS,AZP_REMOVE_RETRY_SECONDS,AZP_STATUS_CHECK_SECONDS,AZP_MAX_LIFETIME_SECONDS,AZP_POD_LIFECYCLE,AZP_IDLE_TIMEOUT_SECONDS,AZP_MIN_IDLE_AGENTS," +
      "AZP_PLACEHOLDER_AGENT,AZP_PLACEHOLDER_CAPABILITIES,AZP_STOP_GRACE_SECONDS,VSO_AGENT_IGNORE,POD_NAME,POD_NAMESPACE,AZP_DEPLOYMENT," +
      "AZP_SMOKE_MIN_AGENTS,AZP_SMOKE_TIMEOUT_SECONDS,AZP_GC_OFFLINE_GRACE_SECONDS,AZP_GC_DRY_RUN,HTTP_PROXY,http_proxy,HTTPS_PROXY,https_proxy,NO_PROXY,no_proxy,VSTS_HTTP_PROXY,VSTS_HTTP_PROXY_USERNAME,VSTS_HTTP_PROXY_PASSWORD",
    ...Object.fromEntries(Object.entries(agentProxyEnv).map(([k, value]) => [`AZP_AGENT_PROXY_${snake(k)}_VAR`, value])),
    AZP_IMAGE_VERSION: release.imageTag,
    AZP_BAKED_AGENT_VERSION: release.agentVersion,
  };

  it("should define exactly the contract's values, as bash reads them", () => {
    expect(sourcedVariables()).toEqual(expected);
  });

  it("should define the exit codes every command uses, readonly (literal: users and the README rely on them)", () => {
    expect(sourcedVariables("EXIT_")).toEqual({
      EXIT_FAILURE: "1",
      EXIT_SETTINGS: "2",
      EXIT_UNREACHABLE: "3",
      EXIT_AUTH: "4",
      EXIT_REJECTED: "5",
      EXIT_PACKAGE: "6",
      EXIT_CONFIGURE: "7",
      EXIT_AGENTS: "8",
    });
    const r = runSync("env", ["-i", "bash", "--noprofile", "--norc", "-c", 'source "$1"; EXIT_AUTH=9', "bash", CONTRACT_SH]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("EXIT_AUTH: readonly variable");
  });

  it("should not define any env contract variable (those come from the pod, not the image)", () => {
    const defined = Object.keys(sourcedVariables());
    for (const { name } of Object.values(c.env)) expect(defined).not.toContain(name);
  });
});
