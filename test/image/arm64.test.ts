import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { AGENT_VERSION, LISTENING, PAT, POOL, baseImageFor, type ImagePlatform, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { agentDeletes, agentsInPool, newPod, releaseCommandEnv } from "./support/fixtures.ts";
import { docker, dockerOk } from "./support/docker.ts";
import { runOneShot } from "./support/pod.ts";

/**
 * The linux/arm64 image, built on this machine (amd64 here) from the arm64 base that
 * `tools/docker-up.sh multiarch` makes, and run under QEMU user emulation registered with
 * binfmt_misc: it really is arm64, and the image layer's smoke path passes — register, the
 * agent listening, one job run by it, de-registration, and azp-smoke (the `helm test` pod).
 * GIVEN the fake agent package stamped linux-arm64 (shell only) and the fake Azure DevOps.
 * On an arm64 machine the same test runs natively.
 */

const PLATFORM: ImagePlatform = "arm64";
/** What `uname -m` says on arm64 (QEMU reports the emulated machine). */
const MACHINE = "aarch64";
/** ELF e_machine of AArch64 (EM_AARCH64 = 183), little-endian, as `od -tx1` prints it. */
const ELF_MACHINE = "b7 00";
/** Emulated bash is several times slower than native: the waits of the native tests, stretched. */
const EMULATED_MS = 180_000;

const { stateFiles, env: names, commands } = imageContract;

let env: ImageTestEnv;
useImageEnv((e) => (env = e), {}, PLATFORM);

describe("the arm64 image built here", () => {
  it("should say arm64 in its metadata and be built FROM the arm64 base", async () => {
    expect(await dockerOk(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", env.image])).toBe(`linux/${PLATFORM}`);
    expect(await dockerOk(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", baseImageFor(PLATFORM)])).toBe(`linux/${PLATFORM}`);
    const labels = JSON.parse(await dockerOk(["image", "inspect", "--format", "{{json .Config.Labels}}", env.image])) as Record<string, string>;
    expect(labels["org.opencontainers.image.base.name"]).toBe(baseImageFor(PLATFORM));
    expect(env.pkg.platform).toBe("linux-arm64");
  });

  it("should run arm64 binaries: aarch64 machine, AArch64 ELF files, the arm64 libicu", async () => {
    const script = ["uname -m", "od -An -tx1 -j18 -N2 /bin/bash", `od -An -tx1 -j18 -N2 "$(command -v curl)"`, "ls /usr/lib/aarch64-linux-gnu/libicuuc.so.* | head -n1"].join("\n");
    const r = await docker(["run", "--rm", "--platform", `linux/${PLATFORM}`, "--network", "none", env.image, "bash", "-c", script], { timeoutMs: EMULATED_MS });
    expect(r.code, r.output).toBe(0);
    const [machine, bash, curl, icu] = r.stdout.split("\n").map((line) => line.trim());
    expect(machine).toBe(MACHINE);
    expect(bash).toBe(ELF_MACHINE);
    expect(curl).toBe(ELF_MACHINE);
    expect(icu).toMatch(/^\/usr\/lib\/aarch64-linux-gnu\/libicuuc\.so\.\d+/);
  });
});

describe("the smoke path of the arm64 image under emulation", () => {
  it("should register, run a job on aarch64, de-register and exit when stopped", async () => {
    const pod = newPod(env);
    await pod.start();
    await pod.waitForLog("agent", LISTENING, EMULATED_MS);

    const registered = env.fake.state().agents.find((a) => a.name === pod.name);
    expect(registered?.systemCapabilities).toMatchObject({ "Agent.Version": AGENT_VERSION, "Agent.OSArchitecture": "ARM64", AZP_RELEASE: pod.release });

    const [job] = env.fake.enqueueJobs(env.poolId, { script: "echo \"job machine: $(uname -m)\"", displayName: "Which machine" });
    if (job === undefined) throw new Error("no job enqueued");
    expect(await env.fake.waitFor(() => env.fake.job(job).result, { timeoutMs: EMULATED_MS, what: `job ${job} to finish` })).toBe("succeeded");
    expect(env.fake.job(job).agentName).toBe(pod.name);
    expect(env.fake.job(job).output).toContain(`job machine: ${MACHINE}`);

    expect((await pod.waitForExit("deregister", EMULATED_MS)).exitCode).toBe(0);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    expect(pod.hint(stateFiles.removed)).toBe(true);

    await pod.signal("agent");
    expect((await pod.waitForExit("agent", 60_000)).exitCode).toBe(0);
  });

  it("should pass azp-smoke (the helm test pod) once the release's agent is registered", async () => {
    const pod = newPod(env);
    const registered = await pod.register(EMULATED_MS);
    expect(registered.exitCode, registered.output).toBe(0);
    const r = await runOneShot({
      image: env.image,
      platform: PLATFORM,
      command: commands.smoke,
      token: PAT,
      timeoutMs: EMULATED_MS,
      env: {
        ...releaseCommandEnv(env.fake, pod.release),
        [names.smokeMinAgents.name]: "1",
        [names.smokeTimeout.name]: "60",
      },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`ok: 1 agent(s) of release '${pod.release}' registered in pool '${POOL}': ${pod.name}`);
    expect(r.stdout).toContain("smoke test passed");
  });
});
