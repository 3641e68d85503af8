import { readFileSync } from "node:fs";
import type { Server } from "node:https";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { imageContract, tokenFilePath } from "../../generator/contract/image.ts";
import { startFakeAdo, type FakeAdo } from "../fake-ado/server.ts";
import { AGENT_VERSION, EXPIRED_PAT, LISTENING, PAT, POOL, UNKNOWN_PAT, startFake, testTls, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { docker } from "./support/docker.ts";
import { agentsInPool, imageRequests, newPod, requestsInOrder, shape } from "./support/fixtures.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * The register init container against every answer Azure DevOps can give, and the agent
 * package's two sources (baked into the image, downloaded at start).
 */

const { env: names, paths } = imageContract;

let env: ImageTestEnv;
useImageEnv((e) => (env = e));

interface FailureCase {
  name: string;
  token?: string | undefined;
  env?: Record<string, string | undefined>;
  setup?: (fake: FakeAdo) => void;
  exitCode: number;
  messages: string[];
  /** Requests the image may send before giving up (no retry storm on auth failures). */
  maxRequests?: number;
}

const failures: FailureCase[] = [
  {
    name: "an invalid PAT (401)",
    token: UNKNOWN_PAT,
    exitCode: 4,
    messages: ["rejected the PAT in AZP_TOKEN_FILE as invalid (HTTP 401", "TF400813"],
    maxRequests: 1,
  },
  {
    name: "an expired PAT (401 + X-TFS-ServiceError)",
    token: EXPIRED_PAT,
    exitCode: 4,
    messages: ["the PAT in AZP_TOKEN_FILE has expired", "Access Denied: The Personal Access Token used has expired."],
    maxRequests: 1,
  },
  {
    name: "the HTML sign-in page (203)",
    token: UNKNOWN_PAT,
    setup: (fake) => fake.auth({ mode: "html203" }),
    exitCode: 4,
    messages: ["HTML sign-in page (HTTP 203, Content-Type 'text/html", "is not an Azure DevOps organization URL"],
    maxRequests: 1,
  },
  {
    name: "a missing pool",
    env: { [names.pool.name]: "no-such-pool" },
    exitCode: 5,
    messages: ["agent pool 'no-such-pool' (AZP_POOL) was not found", "Agent Pools (Read & manage)"],
    maxRequests: 2,
  },
  {
    name: "an unreachable server",
    env: { [names.url.name]: "http://127.0.0.1:9/fakeorg", [names.connectAttempts.name]: "2" },
    exitCode: 3,
    messages: ["cannot reach Azure DevOps at http://127.0.0.1:9/fakeorg", "after 2 attempts", "attempt 1/2 failed"],
    maxRequests: 0,
  },
  { name: "no AZP_URL", env: { [names.url.name]: undefined }, exitCode: 2, messages: ["AZP_URL is not set"], maxRequests: 0 },
  { name: "a malformed AZP_URL", env: { [names.url.name]: "dev.azure.com/contoso" }, exitCode: 2, messages: ["AZP_URL must be an http(s) URL"], maxRequests: 0 },
  {
    name: "no PAT file",
    token: undefined,
    exitCode: 2,
    messages: [`AZP_TOKEN_FILE: ${tokenFilePath} does not exist; mount the Secret holding the PAT there`],
    maxRequests: 0,
  },
  { name: "an unknown AZP_AGENT_SOURCE", env: { [names.agentSource.name]: "nightly" }, exitCode: 2, messages: ["AZP_AGENT_SOURCE must be one of: baked download"], maxRequests: 0 },
  { name: "a malformed AZP_RELEASE", env: { [names.release.name]: "team a" }, exitCode: 2, messages: ["AZP_RELEASE must be '<namespace>/<release fullname>' (the chart sets it); got 'team a'"], maxRequests: 0 },
  { name: "a malformed AZP_CONNECT_ATTEMPTS", env: { [names.connectAttempts.name]: "many" }, exitCode: 2, messages: ["AZP_CONNECT_ATTEMPTS must be a whole number >= 1"], maxRequests: 0 },
];

describe("azp-register failures", () => {
  it.each(failures)("should exit $exitCode with a clear message on $name", async (failure) => {
    failure.setup?.(env.fake);
    const pod = newPod(env, { token: "token" in failure ? failure.token : PAT, env: { register: failure.env ?? {} } });
    const r = await pod.register();
    expect(r.exitCode, r.output).toBe(failure.exitCode);
    for (const message of failure.messages) expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/^azp-register: error: /m);
    if (failure.maxRequests !== undefined) expect(imageRequests(env.fake).length).toBeLessThanOrEqual(failure.maxRequests);
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    expect(r.output).not.toContain(PAT);
  });

  it("should refuse an agent that stored the PAT (no per-agent OAuth credential) and remove it again", async () => {
    // Azure DevOps Server without OAuth for agents: config.sh keeps the PAT in .credentials.
    const patFake = await startFake(env.pkg, { agentCredentials: "pat" });
    try {
      const pod = newPod({ ...env, fake: patFake }, { url: patFake.url });
      const r = await pod.register();
      expect(r.exitCode, r.output).toBe(EXIT.configure);
      expect(r.stderr).toContain(`the agent stored the PAT in ${paths.agentHome}/.credentials`);
      expect(patFake.state().agents).toEqual([]);
      expect(requestsInOrder(patFake).map(shape)).toContain("DELETE /fakeorg/_apis/distributedtask/pools/{id}/agents/{id}");
      const volumes = await pod.inspectVolumes("ls -A /pod/agent; grep -rlaF -f - /pod; echo scanned", `${PAT}\n`);
      expect(volumes.output).toBe("scanned\n");
    } finally {
      await patFake.close();
    }
  });

  it("should pass config.sh only arguments the agent knows, and warn when the pool lets agents self-update", async () => {
    const pod = newPod(env);
    const r = await pod.register();
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toContain("Successfully added the agent");
    expect(r.output).not.toContain("Unrecognized command-line input arguments");
    // The fake's pools have autoUpdate: true, like new pools in Azure DevOps.
    expect(r.stderr).toContain(`azp-register: warning: pool '${POOL}' lets agents update themselves (autoUpdate)`);
    // Registered under the pod's name (what the sidecar looks it up by), nothing handed over in
    // the job-writable state volume.
    expect(env.fake.state().agents.map((a) => a.name)).toEqual([pod.name]);
    expect((await pod.inspectVolumes("ls -A /pod/state")).stdout).toBe("");
  });

  it("should re-register under the same name when the init container runs again", async () => {
    const pod = newPod(env);
    const first = await pod.register();
    expect(first.exitCode, first.output).toBe(0);
    const firstId = env.fake.state().agents[0]?.id;
    // A restarted init container finds the configured agent of its previous attempt.
    await docker(["start", "--attach", pod.containerName("register")], { timeoutMs: 120_000 });
    expect((await pod.waitForExit("register", 60_000)).exitCode).toBe(0);
    expect(env.fake.state().agents.map((a) => a.id)).toEqual([firstId]);
  });
});

/** Serves fixed bytes on 127.0.0.1, for a mirror that hands out a different file. */
/** An https mirror serving `bytes` with the fakes' test certificate. */
async function serveBytes(bytes: Buffer): Promise<{ url: string; server: Server }> {
  const server = createHttpsServer({ key: testTls().key, cert: testTls().cert }, (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/gzip", "Content-Length": String(bytes.length) });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/vsts-agent.tar.gz`, server };
}

describe("azp-register with AZP_AGENT_SOURCE=download", () => {
  it("should download the newest package, verify its SHA-256 and run a job with it", async () => {
    const pod = newPod(env, { env: { register: { [names.agentSource.name]: "download" } } });
    const r = await pod.register();
    expect(r.exitCode, r.output).toBe(0);
    expect(r.stdout).toContain(`SHA-256 verified (${env.pkg.sha256})`);
    const calls = requestsInOrder(env.fake);
    const packages = calls.findIndex((c) => c.path.startsWith("/fakeorg/_apis/distributedtask/packages/agent?platform=linux-x64&top=1"));
    const download = calls.findIndex((c) => c.path.startsWith("/_downloads/agent/"));
    const addAgent = calls.findIndex((c) => shape(c) === "POST /fakeorg/_apis/distributedtask/pools/{id}/agents");
    expect(packages).toBeGreaterThan(0);
    expect(download).toBeGreaterThan(packages);
    expect(addAgent).toBeGreaterThan(download);
    // The package host is anonymous (a CDN): the PAT is not sent there.
    expect(calls[download]?.authScheme).toBeNull();

    await pod.startDeregister();
    await pod.startAgent();
    await pod.waitForLog("agent", LISTENING);
    const [job] = env.fake.enqueueJobs(env.poolId, { script: "echo downloaded-agent-works" });
    const result = await env.fake.waitFor(() => env.fake.job(job ?? -1).result, { timeoutMs: 60_000, what: "the job" });
    expect(result).toBe("succeeded");
    expect((await pod.waitForExit("deregister", 30_000)).exitCode).toBe(0);
    await pod.signal("agent");
    expect((await pod.waitForExit("agent", 10_000)).exitCode).toBe(0);
  });

  it("should take the package from an https mirror with its own SHA-256, without asking Azure DevOps for one", async () => {
    const mirror = await serveBytes(readFileSync(env.pkg.file));
    try {
      const pod = newPod(env, { env: { register: { [names.agentSource.name]: "download", [names.packageUrl.name]: mirror.url, [names.packageSha256.name]: env.pkg.sha256.toUpperCase() } } });
      const r = await pod.register();
      expect(r.exitCode, r.output).toBe(0);
      expect(r.stdout).toContain(`SHA-256 verified (${env.pkg.sha256})`);
      expect(requestsInOrder(env.fake).some((c) => c.path.includes("/packages/"))).toBe(false);
    } finally {
      mirror.server.close();
    }
  });

  it("should refuse a mirror's package whose SHA-256 differs from the one given for it", async () => {
    const mirror = await serveBytes(Buffer.from("this is not the agent package"));
    try {
      const pod = newPod(env, { env: { register: { [names.agentSource.name]: "download", [names.packageUrl.name]: mirror.url, [names.packageSha256.name]: env.pkg.sha256 } } });
      const r = await pod.register();
      expect(r.exitCode, r.output).toBe(EXIT.package);
      expect(r.stderr).toContain(`but ${env.pkg.sha256} was expected: refusing to run it`);
      expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
    } finally {
      mirror.server.close();
    }
  });

  it("should refuse a package Azure DevOps offers without a hash", async () => {
    const fake = await startFake(env.pkg, { packages: [{ version: AGENT_VERSION, platforms: ["linux-x64", "linux-arm64"], file: env.pkg.file, publishHash: false }] });
    try {
      const pod = newPod({ ...env, fake }, { url: fake.url, env: { register: { [names.agentSource.name]: "download" } } });
      const r = await pod.register();
      expect(r.exitCode, r.output).toBe(EXIT.package);
      expect(r.stderr).toContain("Azure DevOps published no SHA-256 (hashValue) for the linux-x64 agent package");
      expect(fake.requests().some((c) => c.path.startsWith("/_downloads/"))).toBe(false);
    } finally {
      await fake.close();
    }
  });

  it("should refuse a package Azure DevOps offers over plain http", async () => {
    const fake = await startFakeAdo({ pats: [PAT], pools: [POOL], packages: [{ version: AGENT_VERSION, platforms: ["linux-x64", "linux-arm64"], file: env.pkg.file }] });
    try {
      const pod = newPod({ ...env, fake }, { url: fake.url, env: { register: { [names.agentSource.name]: "download" } } });
      const r = await pod.register();
      expect(r.exitCode, r.output).toBe(EXIT.package);
      expect(r.stderr).toContain(`refusing to download the agent package over a connection that is not https: ${fake.baseUrl}/_downloads/`);
      expect(fake.requests().some((c) => c.path.startsWith("/_downloads/"))).toBe(false);
    } finally {
      await fake.close();
    }
  });

  it("should name the certificate problem when the package host's CA is not trusted (no caBundle)", async () => {
    const pod = newPod(env, { caFile: undefined, env: { register: { [names.agentSource.name]: "download" } } });
    const r = await pod.register();
    expect(r.exitCode, r.output).toBe(EXIT.package);
    expect(r.stderr).toMatch(/cannot download the agent package from https:\/\/127\.0\.0\.1:\d+\/_downloads\/.*certificate/);
  });

  it("should explain a sign-in page instead of crashing in jq (the article's start.sh died there)", async () => {
    env.fake.auth({ mode: "html203" });
    const pod = newPod(env, { token: UNKNOWN_PAT, env: { register: { [names.agentSource.name]: "download" } } });
    const r = await pod.register();
    expect(r.exitCode).toBe(EXIT.auth);
    expect(r.stderr).toContain("HTML sign-in page");
    expect(r.stderr).not.toMatch(/parse error|jq: error/);
  });
});
