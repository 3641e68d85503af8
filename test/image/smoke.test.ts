import { randomBytes } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { imageContract, tokenFilePath } from "../../generator/contract/image.ts";
import type { FakeAdo } from "../fake-ado/server.ts";
import { EXPIRED_PAT, PAT, POOL, UNKNOWN_PAT, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { newPod, releaseCommandEnv } from "./support/fixtures.ts";
import { basic, registerAgent } from "../fake-ado/test-client.ts";
import { runOneShot } from "./support/pod.ts";
import type { RunResult } from "../support/process.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * azp-smoke, the chart's `helm test` pod: success when this release's agents are registered,
 * and one distinct message (and exit code) per way it can fail.
 */

const { env: names, commands } = imageContract;

let env: ImageTestEnv;
let release: string;
useImageEnv((e) => (env = e));
beforeEach(() => {
  release = `azp-smoke/${randomBytes(2).toString("hex")}-azp-agent`;
});

function smoke(options: { token?: string | undefined; env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
  const variables: Record<string, string | undefined> = {
    ...releaseCommandEnv(env.fake, release),
    [names.smokeMinAgents.name]: "1",
    [names.smokeTimeout.name]: "20",
    ...options.env,
  };
  const defined = Object.fromEntries(Object.entries(variables).filter((e): e is [string, string] => e[1] !== undefined));
  return runOneShot({ image: env.image, command: commands.smoke, env: defined, ...("token" in options ? { token: options.token } : { token: PAT }) });
}

async function registerAgents(count: number, owner = release): Promise<string[]> {
  const registered: string[] = [];
  for (let index = 0; index < count; index++) {
    const pod = newPod(env, { release: owner });
    const r = await pod.register();
    if (r.exitCode !== 0) throw new Error(`register failed:\n${r.output}`);
    registered.push(pod.name);
  }
  return registered;
}

describe("azp-smoke when the release works", () => {
  it("should pass and list the agents when enough are registered", async () => {
    const agents = await registerAgents(2);
    const r = await smoke({ env: { [names.smokeMinAgents.name]: "2" } });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`ok: ${env.fake.url} is reachable and accepts the PAT`);
    expect(r.stdout).toContain(`ok: pool '${POOL}' exists`);
    expect(r.stdout).toContain(`ok: 2 agent(s) of release '${release}' registered in pool '${POOL}': ${[...agents].sort().join(", ")}`);
    expect(r.stdout).toContain("smoke test passed");
  });

  it("should wait for agents that register while it polls", async () => {
    const running = smoke({ env: { [names.smokeTimeout.name]: "60" } });
    await env.fake.waitFor(() => env.fake.requests().some((r) => r.path.includes("/agents")), { timeoutMs: 30_000, what: "the smoke test's first look at the pool" });
    await registerAgents(1);
    const r = await running;
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`waiting: 0/1 agent(s) of release '${release}' registered`);
  });
});

interface SmokeFailure {
  name: string;
  token?: string | undefined;
  env?: Record<string, string | undefined>;
  setup?: (fake: FakeAdo) => void;
  exitCode: number;
  message: string;
}

const failures: SmokeFailure[] = [
  { name: "an unreachable URL", env: { [names.url.name]: "http://127.0.0.1:9/fakeorg" }, exitCode: 3, message: "cannot reach Azure DevOps at http://127.0.0.1:9/fakeorg" },
  { name: "an invalid PAT", token: UNKNOWN_PAT, exitCode: 4, message: "rejected the PAT in AZP_TOKEN_FILE as invalid (HTTP 401" },
  { name: "an expired PAT", token: EXPIRED_PAT, exitCode: 4, message: "has expired (HTTP 401 while checking the connection (GET _apis/connectionData); Azure DevOps says: Access Denied: The Personal Access Token used has expired.)" },
  { name: "the HTML sign-in page", token: UNKNOWN_PAT, setup: (fake) => fake.auth({ mode: "html203" }), exitCode: 4, message: "HTML sign-in page (HTTP 203" },
  { name: "a missing pool", env: { [names.pool.name]: "ghost-pool" }, exitCode: 5, message: "agent pool 'ghost-pool' (AZP_POOL) was not found" },
  { name: "no AZP_URL", env: { [names.url.name]: undefined }, exitCode: 2, message: "AZP_URL is not set" },
  { name: "no PAT file", token: undefined, exitCode: 2, message: `AZP_TOKEN_FILE: ${tokenFilePath} does not exist` },
  { name: "no AZP_RELEASE", env: { [names.release.name]: undefined }, exitCode: 2, message: "AZP_RELEASE is not set" },
  { name: "a malformed AZP_RELEASE", env: { [names.release.name]: "Team A" }, exitCode: 2, message: "AZP_RELEASE must be '<namespace>/<release fullname>'" },
  { name: "a malformed AZP_SMOKE_MIN_AGENTS", env: { [names.smokeMinAgents.name]: "two" }, exitCode: 2, message: "AZP_SMOKE_MIN_AGENTS must be a whole number >= 0" },
];

describe("azp-smoke with autoscaling (AZP_PLACEHOLDER_AGENT)", () => {
  const placeholder = "azp-smoke-placeholder-0123abcd";
  const withPlaceholder = { [names.placeholderAgent.name]: placeholder, [names.smokeMinAgents.name]: "0", [names.smokeTimeout.name]: "3" };

  it("should fail with its own message while the release's placeholder is not registered", async () => {
    const r = await smoke({ env: withPlaceholder });
    expect(r.code).toBe(EXIT.agents);
    expect(r.output).toContain(`the placeholder agent '${placeholder}' of release '${release}' is not registered in pool '${POOL}'`);
  });

  it("should pass at zero agents once the placeholder is registered, and not count it as an agent", async () => {
    await registerAgent(env.fake, env.poolId, placeholder, basic("user", PAT), undefined, { [names.release.name]: release });
    const r = await smoke({ env: withPlaceholder });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`ok: placeholder agent '${placeholder}' is registered (offline; it never runs jobs)`);
    expect(r.stdout).toContain(`ok: 0 agent(s) of release '${release}' registered`);
  });

  it("should not take another release's agent of that name for the placeholder", async () => {
    await registerAgent(env.fake, env.poolId, placeholder, basic("user", PAT), undefined, { [names.release.name]: "azp-smoke/other-azp-agent" });
    expect((await smoke({ env: withPlaceholder })).code).toBe(EXIT.agents);
  });
});

describe("azp-smoke failures", () => {
  it.each(failures)("should exit $exitCode on $name", async (failure) => {
    failure.setup?.(env.fake);
    const r = await smoke({ ...("token" in failure ? { token: failure.token } : {}), env: failure.env ?? {} });
    expect(r.code, r.output).toBe(failure.exitCode);
    expect(r.stderr).toContain(`azp-smoke: error: `);
    expect(r.stderr).toContain(failure.message);
    expect(r.output).not.toContain("smoke test passed");
  });

  it("should name the agents it found when there are too few", async () => {
    const agents = await registerAgents(1);
    const r = await smoke({ env: { [names.smokeMinAgents.name]: "3", [names.smokeTimeout.name]: "2" } });
    expect(r.code, r.output).toBe(EXIT.agents);
    expect(r.stderr).toContain(`pool '${POOL}' has 1 agent(s) of release '${release}' after 2s, expected at least 3; found: ${agents.join(", ")}`);
  });

  it("should count only the agents carrying this release's capability, not same-named agents of another release", async () => {
    // Releases with the same name in two namespaces share a pool: names cannot tell them apart.
    const own = await registerAgents(1);
    await registerAgents(2, release.replace(/^azp-smoke\//, "other-namespace/"));
    const r = await smoke({ env: { [names.smokeMinAgents.name]: "2", [names.smokeTimeout.name]: "2" } });
    expect(r.code, r.output).toBe(EXIT.agents);
    expect(r.stderr).toContain(`has 1 agent(s) of release '${release}' after 2s, expected at least 2; found: ${own.join(", ")}`);
  });

  it("should give every failure its own message", () => {
    expect(new Set(failures.map((f) => f.message)).size).toBe(failures.length);
  });
});
