import { describe, expect, it } from "vitest";
import { agentIgnoredEnv, commandOf, contractEnvNames, envFor, envReadBy, imageContract, type ContainerKey, type EnvKey, type ImageCommand } from "../../generator/contract/image.ts";

const commands = Object.keys(imageContract.commands) as ImageCommand[];
const envKeys = Object.keys(imageContract.env) as EnvKey[];

describe("envFor and envReadBy", () => {
  // The variables each command's script reads (envReadBy) and those the chart gives it (envFor):
  // the same but for `run`, whose agent reports AZP_RELEASE as a capability. The credential
  // layout of the pod depends on this table.
  it.each<{ command: ImageCommand; reads: EnvKey[]; gets?: EnvKey[] }>([
    {
      command: "register",
      reads: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "agentName", "release", "work", "agentSource", "packageUrl", "packageSha256", "downloadTimeout", "connectAttempts", "agentIgnore"],
    },
    { command: "run", reads: ["work", "podLifecycle", "stopGraceSeconds", "agentIgnore"], gets: ["release", "work", "podLifecycle", "stopGraceSeconds", "agentIgnore"] },
    {
      command: "deregister",
      reads: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "retrySeconds", "statusCheckSeconds", "maxLifetimeSeconds", "podLifecycle", "idleTimeoutSeconds", "minIdleAgents", "podName", "podNamespace"],
    },
    { command: "refresh", reads: ["podNamespace", "deployment"] },
    { command: "smoke", reads: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "smokeMinAgents", "smokeTimeout"] },
    { command: "gc", reads: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "placeholderCapabilities", "podNamespace", "gcOfflineGrace", "gcDryRun"] },
    { command: "placeholder", reads: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "placeholderCapabilities"] },
  ])("should give $command exactly its variables, in contract order", ({ command, reads, gets }) => {
    expect(envReadBy(command)).toEqual(reads);
    expect(envFor(command)).toEqual(gets ?? reads);
  });

  it("should keep the PAT and the Kubernetes identity away from the job container", () => {
    expect(envFor("run")).not.toContain("tokenFile");
    expect(envFor("run")).not.toContain("podName");
    expect(envFor("run")).not.toContain("url");
  });

  it("should have every variable read by at least one command", () => {
    for (const key of envKeys) expect(commands.some((c) => envReadBy(c).includes(key)), key).toBe(true);
  });
});

describe("agentIgnoredEnv", () => {
  it("should hide every setting but the release capability, and every proxy variable, from the agent's capabilities", () => {
    expect(agentIgnoredEnv()).toEqual([
      ...["AZP_URL", "AZP_POOL", "AZP_TOKEN_FILE", "AZP_AUTH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "AZP_AGENT_NAME", "AZP_WORK"],
      ...["AZP_AGENT_SOURCE", "AZP_AGENT_PACKAGE_URL", "AZP_AGENT_PACKAGE_SHA256", "AZP_DOWNLOAD_TIMEOUT_SECONDS", "AZP_CONNECT_ATTEMPTS", "AZP_REMOVE_RETRY_SECONDS", "AZP_STATUS_CHECK_SECONDS"],
      ...["AZP_MAX_LIFETIME_SECONDS", "AZP_POD_LIFECYCLE", "AZP_IDLE_TIMEOUT_SECONDS", "AZP_MIN_IDLE_AGENTS", "AZP_PLACEHOLDER_AGENT", "AZP_PLACEHOLDER_CAPABILITIES", "AZP_STOP_GRACE_SECONDS"],
      ...["VSO_AGENT_IGNORE", "POD_NAME", "POD_NAMESPACE", "AZP_DEPLOYMENT", "AZP_SMOKE_MIN_AGENTS", "AZP_SMOKE_TIMEOUT_SECONDS", "AZP_GC_OFFLINE_GRACE_SECONDS", "AZP_GC_DRY_RUN"],
      ...["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "VSTS_HTTP_PROXY", "VSTS_HTTP_PROXY_USERNAME", "VSTS_HTTP_PROXY_PASSWORD"],
    ]);
  });
});

describe("commandOf", () => {
  it.each<{ container: ContainerKey; command: ImageCommand }>([
    { container: "register", command: "register" },
    { container: "deregister", command: "deregister" },
    { container: "agent", command: "run" },
    { container: "refresh", command: "refresh" },
    { container: "smoke", command: "smoke" },
    { container: "gc", command: "gc" },
    { container: "placeholder", command: "placeholder" },
  ])("should run $command in the $container container", ({ container, command }) => {
    expect(commandOf(container)).toBe(command);
  });
});

describe("env contract names", () => {
  const names = contractEnvNames();

  it("should be unique", () => {
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(names)("should make %s a portable environment variable name", (name) => {
    expect(name).toMatch(/^[A-Z_][A-Z0-9_]*$/);
  });

  it("should list every env entry once, in contract order", () => {
    expect(names).toEqual(envKeys.map((k) => imageContract.env[k].name));
  });

  it("should only name commands the image has in `reads`", () => {
    for (const key of envKeys) for (const c of imageContract.env[key].reads) expect(commands, key).toContain(c);
  });
});
