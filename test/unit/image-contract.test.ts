import { describe, expect, it } from "vitest";
import { contractEnvNames, envFor, envReadBy, imageContract, type EnvKey, type ImageCommand } from "../../generator/contract/image.ts";

const commands = Object.keys(imageContract.commands) as ImageCommand[];
const envKeys = Object.keys(imageContract.env) as EnvKey[];

describe("envFor", () => {
  // The variables each command gets: the credential layout of the pod depends on this table.
  it.each<{ command: ImageCommand; expected: EnvKey[] }>([
    {
      command: "register",
      expected: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "agentName", "release", "work", "agentSource", "packageUrl", "packageSha256", "downloadTimeout", "connectAttempts", "agentIgnore"],
    },
    { command: "run", expected: ["release", "work", "podLifecycle", "stopGraceSeconds", "agentIgnore"] },
    {
      command: "deregister",
      expected: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "retrySeconds", "statusCheckSeconds", "maxLifetimeSeconds", "podLifecycle", "idleTimeoutSeconds", "minIdleAgents", "podName", "podNamespace"],
    },
    { command: "refresh", expected: ["podNamespace", "deployment"] },
    { command: "smoke", expected: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "smokeMinAgents", "smokeTimeout"] },
    { command: "gc", expected: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "placeholderCapabilities", "podNamespace", "gcOfflineGrace", "gcDryRun"] },
    { command: "placeholder", expected: ["url", "pool", "tokenFile", "auth", "tenantId", "clientId", "authorityHost", "federatedTokenFile", "release", "connectAttempts", "placeholderAgent", "placeholderCapabilities"] },
  ])("should give $command exactly its variables, in contract order", ({ command, expected }) => {
    expect(envFor(command)).toEqual(expected);
  });

  it.each(commands)("should return for %s the keys whose `reads` name it, plus capabilities where the agent reports them", (command) => {
    const got = envFor(command);
    const reportsCapabilities = (imageContract.capabilityCommands as readonly string[]).includes(command);
    for (const key of envKeys) {
      const spec: { reads: readonly string[]; capability?: boolean } = imageContract.env[key];
      expect(envReadBy(command).includes(key), `${key} read by ${command}`).toBe(spec.reads.includes(command));
      expect(got.includes(key), `${key} for ${command}`).toBe(spec.reads.includes(command) || (spec.capability === true && reportsCapabilities));
    }
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
