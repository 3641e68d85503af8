import { describe, expect, it } from "vitest";
import { contractEnvNames, envFor, imageContract, type EnvKey, type ImageCommand } from "../../generator/contract/image.ts";

const commands = Object.keys(imageContract.commands) as ImageCommand[];
const envKeys = Object.keys(imageContract.env) as EnvKey[];

describe("envFor", () => {
  // The variables each command gets: the credential layout of the pod depends on this table.
  it.each<{ command: ImageCommand; expected: EnvKey[] }>([
    { command: "register", expected: ["url", "pool", "tokenFile", "agentName", "work", "agentSource", "packageUrl", "connectAttempts"] },
    { command: "run", expected: ["work"] },
    { command: "deregister", expected: ["url", "tokenFile", "retrySeconds", "podName", "podNamespace"] },
    { command: "refresh", expected: ["podNamespace", "deployment"] },
    { command: "smoke", expected: ["url", "pool", "tokenFile", "connectAttempts", "smokeAgentPrefix", "smokeMinAgents", "smokeTimeout"] },
  ])("should give $command exactly its variables, in contract order", ({ command, expected }) => {
    expect(envFor(command)).toEqual(expected);
  });

  it.each(commands)("should return for %s exactly the keys whose `reads` name it", (command) => {
    const got = envFor(command);
    for (const key of envKeys) {
      expect(got.includes(key), `${key} for ${command}`).toBe((imageContract.env[key].reads as readonly string[]).includes(command));
    }
  });

  it("should keep the PAT and the Kubernetes identity away from the job container", () => {
    expect(envFor("run")).not.toContain("tokenFile");
    expect(envFor("run")).not.toContain("podName");
    expect(envFor("run")).not.toContain("url");
  });

  it("should have every variable read by at least one command", () => {
    for (const key of envKeys) expect(commands.some((c) => envFor(c).includes(key)), key).toBe(true);
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
