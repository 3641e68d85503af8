import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { release } from "../../generator/contract/release.ts";
import { repoPath } from "../support/repo.ts";
import { BASE_IMAGE, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { run } from "../support/process.ts";
import { DOCKER, docker, dockerOk } from "./support/docker.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * The built image against the contract (user, paths, commands, signal, labels) and
 * tools/build-image.sh's refusals. The image is the one the other image tests use.
 */

const { user, paths, commands, stopSignal } = imageContract;

let env: ImageTestEnv;
useImageEnv((e) => (env = e));

interface ImageConfig {
  User: string;
  StopSignal: string;
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  Env: string[];
  Labels: Record<string, string>;
}

describe("the agent image", () => {
  it("should follow the contract: non-root user, STOPSIGNAL, exec-form CMD, no ENTRYPOINT wrapper", async () => {
    const config = JSON.parse(await dockerOk(["image", "inspect", "--format", "{{json .Config}}", env.image])) as ImageConfig;
    expect(config.User).toBe(`${user.uid}:${user.gid}`);
    expect(config.StopSignal).toBe(stopSignal);
    expect(config.Cmd).toEqual([commands.run]);
    expect(config.Entrypoint).toBeNull();
    expect(config.Env).toEqual(expect.arrayContaining([`HOME=${paths.home}`, `AZP_IMAGE_VERSION=${release.imageTag}`, `AZP_BAKED_AGENT_VERSION=${release.agentVersion}`]));
  });

  it("should carry OCI labels with the image and agent versions", async () => {
    const labels = JSON.parse(await dockerOk(["image", "inspect", "--format", "{{json .Config.Labels}}", env.image])) as Record<string, string>;
    expect(labels).toMatchObject({
      "org.opencontainers.image.version": release.imageTag,
      "org.opencontainers.image.base.name": BASE_IMAGE,
      "io.github.azp-agent.agent.version": release.agentVersion,
    });
    expect(Object.keys(labels)).toEqual(expect.arrayContaining(["org.opencontainers.image.source", "org.opencontainers.image.description"]));
  });

  it("should install every command on PATH, the contract script, and a read-only baked agent", async () => {
    const script = [
      `for c in ${Object.values(commands).join(" ")}; do command -v "$c"; done`,
      `test -r ${paths.contractScript} && echo contract-ok`,
      `test -x ${paths.bakedAgent}/config.sh && test -x ${paths.bakedAgent}/run.sh && echo agent-ok`,
      `test -w ${paths.bakedAgent} || echo baked-read-only`,
      "id -u; id -g",
      `for d in ${paths.agentHome} ${paths.work} ${paths.state} ${paths.home}; do test -w "$d" && echo "writable $d"; done`,
      "for p in bash curl jq git tar gzip openssl sha256sum setsid; do command -v $p >/dev/null || echo missing $p; done",
      "ls /usr/lib/x86_64-linux-gnu/libicuuc.so.* /usr/lib/aarch64-linux-gnu/libicuuc.so.* 2>/dev/null | head -n1",
    ].join("\n");
    const r = await docker(["run", "--rm", env.image, "bash", "-c", script]);
    expect(r.code, r.output).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, Object.keys(commands).length)).toEqual(Object.values(commands).map((c) => `${paths.bin}/${c}`));
    expect(lines).toEqual(expect.arrayContaining(["contract-ok", "agent-ok", "baked-read-only", String(user.uid), String(user.gid)]));
    for (const dir of [paths.agentHome, paths.work, paths.state, paths.home]) expect(lines).toContain(`writable ${dir}`);
    expect(r.stdout).not.toContain("missing");
    expect(r.stdout).toMatch(/libicuuc\.so\.\d+/);
  });
});

describe("tools/build-image.sh", () => {
  const build = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): ReturnType<typeof run> =>
    run("bash", [repoPath("tools", "build-image.sh"), ...args], { env: { ...process.env, ...extraEnv }, timeoutMs: 600_000 });

  it("should exit 3 with a clear message when no Docker engine is reachable", async () => {
    const r = await build(["--tag", "local/azp-agent-test:nodocker"], { DOCKER: "/nonexistent/docker" });
    expect(r.code).toBe(EXIT.unreachable);
    expect(r.stderr).toContain("no Docker engine reachable");
    expect(r.stdout).toBe("");
  });

  it("should refuse a package URL without its SHA-256", async () => {
    const r = await build(["--agent-package-url", "http://127.0.0.1:1/agent.tar.gz"]);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("--agent-package-url needs --agent-package-sha256");
  });

  it("should check a package against the SHA-256 Microsoft published for the pinned agent by default, and refuse one that differs", async () => {
    // The default build bakes Microsoft's package for agentVersion and checks it against the pin
    // (generator/contract/agent-pin.json). Here a different package stands at the download URL:
    // the build must refuse it, naming the pinned hash — typed out from Microsoft's v4.269.0 release notes.
    expect(release.agentVersion).toBe("4.269.0");
    const args = readFileSync(repoPath("agent-image", "generated", "build-args.env"), "utf8")
      .split("\n")
      .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line))
      .flatMap((line) => ["--build-arg", line]);
    const url = `${env.fake.baseUrl}/_downloads/agent/${release.agentVersion}/vsts-agent-linux-x64-${release.agentVersion}.tar.gz`;
    const r = await run(DOCKER, ["build", "--network", "host", ...args, "--build-arg", `BASE_IMAGE=${BASE_IMAGE}`, "--build-arg", `AGENT_PACKAGE_URL=${url}`, "--tag", "local/azp-agent-test:wronghash", repoPath("agent-image")], { timeoutMs: 600_000 });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`error: ${url} has SHA-256 ${env.pkg.sha256}, expected b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf`);
  });

  it("should fail with the missing build arguments named when built without build-args.env", async () => {
    const r = await run(DOCKER, ["build", "--build-arg", `BASE_IMAGE=${BASE_IMAGE}`, "--tag", "local/azp-agent-test:noargs", repoPath("agent-image")], { timeoutMs: 600_000 });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("error: missing build arguments: AZP_USER AZP_UID AZP_GID");
    expect(r.output).toContain("Build with tools/build-image.sh");
  });
});
