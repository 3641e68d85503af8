// main.ts as container and cluster tests start it: flags or FAKE_ADO_* variables, one readiness
// line on stdout, clean exit on SIGTERM.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "vitest";
import { makeTempDir } from "../fake-agent/harness.ts";
import { start, type RunResult } from "../support/process.ts";
import { repoPath } from "../support/repo.ts";
import { basic } from "./test-client.ts";
import { testPools } from "./test-pools.ts";

interface RunningCli {
  url: string;
  stop: () => Promise<RunResult>;
}

/** Starts main.ts in its own node process (`node --import tsx`, one process: signals reach it directly). */
async function startCli(args: string[], env: Record<string, string> = {}): Promise<RunningCli> {
  const cli = start(process.execPath, ["--import", "tsx", repoPath("test", "fake-ado", "main.ts"), ...args], { env: { ...process.env, ...env } });
  const ready = await cli.waitForOutput(/^fake-ado listening on (\S+)\n/, 15_000);
  return { url: ready[1] ?? "", stop: () => cli.stop() };
}

describe.concurrent("GIVEN the fake-ado CLI (main.ts)", { timeout: 30_000 }, () => {
  it("should start from flags, print one readiness line with the org URL and exit 0 on SIGTERM", async ({ expect, onTestFinished }) => {
    // GIVEN
    const dir = await makeTempDir("fake-ado-cli-");
    onTestFinished(dir.remove);
    const tarball = join(dir.path, "agent.tar.gz");
    await writeFile(tarball, "not really a tarball");
    // WHEN
    const cli = await startCli(["--host", "127.0.0.1", "--port", "0", "--org", "myorg", "--pat", "cli-pat", "--pool", testPools.agents, "--package", tarball, "--agent-version", "4.270.1", "--extra-agent-versions", "4.250.0"]);
    const pools = await fetch(`${cli.url}/_apis/distributedtask/pools?poolName=${testPools.agents}`, { headers: { Authorization: basic("", "cli-pat") } });
    const packages = await fetch(`${cli.url}/_apis/distributedtask/packages/agent?platform=linux-x64`, { headers: { Authorization: basic("", "cli-pat") } });
    const stopped = await cli.stop();
    // THEN
    expect(cli.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/myorg$/);
    expect(((await pools.json()) as { count: number }).count).toBe(1);
    const versions = ((await packages.json()) as { value: { version: { major: number; minor: number; patch: number } }[] }).value.map((pkg) => `${pkg.version.major}.${pkg.version.minor}.${pkg.version.patch}`);
    expect(versions).toEqual(["4.270.1", "4.250.0"]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("should take its configuration from FAKE_ADO_* variables", async ({ expect }) => {
    // GIVEN / WHEN
    const cli = await startCli([], {
      FAKE_ADO_HOST: "127.0.0.1",
      FAKE_ADO_PORT: "0",
      FAKE_ADO_PAT: "env-pat",
      FAKE_ADO_EXPIRED_PATS: "old-pat",
      FAKE_ADO_POOLS: "pool-a,pool-b",
      FAKE_ADO_AGENT_CREDENTIALS: "pat",
      FAKE_ADO_AUTH_FAILURE_MODE: "html203",
      FAKE_ADO_WHEN_NO_AGENT_MATCHES: "fail",
    });
    const state = (await (await fetch(`${new URL(cli.url).origin}/_fake/state`)).json()) as { pools: { name: string }[]; authMode: string };
    const enqueued = await fetch(`${new URL(cli.url).origin}/_fake/pools/1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ script: "true" }) });
    const expired = await fetch(`${cli.url}/_apis/connectionData`, { headers: { Authorization: basic("", "old-pat"), "X-TFS-FedAuthRedirect": "Suppress" } });
    const stopped = await cli.stop();
    // THEN
    expect(cli.url).toMatch(/\/fakeorg$/);
    expect(state.pools.map((pool) => pool.name)).toEqual(["pool-a", "pool-b"]);
    expect(state.authMode).toBe("html203");
    expect(expired.status).toBe(401);
    expect(expired.headers.get("x-tfs-serviceerror")).not.toBeNull();
    // pool-a has no agent: the job is refused, as Azure DevOps does.
    expect(await enqueued.json()).toMatchObject({ outcome: "failed", statusMessage: "No agent found in pool pool-a which satisfies the specified demands: (none)" });
    expect(stopped.code).toBe(0);
  });

  it("should serve the fake Entra ID from --entra-config, with FAKE_ADO_ENTRA_TOKEN_TTL_SECONDS, and accept its tokens", async ({ expect, onTestFinished }) => {
    // GIVEN
    const dir = await makeTempDir("fake-ado-cli-entra-");
    onTestFinished(dir.remove);
    const tenant = "33333333-4444-4555-8666-777777777777";
    const config = join(dir.path, "entra.json");
    await writeFile(
      config,
      JSON.stringify({ tenants: [tenant], applications: [{ clientId: "c1000000-0000-4000-8000-000000000001", objectId: "d1000000-0000-4000-8000-000000000001", tenantId: tenant, secrets: ["cli-secret"] }] }),
    );
    // WHEN
    const cli = await startCli(["--host", "127.0.0.1", "--port", "0", "--entra-config", config, "--pool", testPools.agents], { FAKE_ADO_ENTRA_TOKEN_TTL_SECONDS: "120" });
    const origin = new URL(cli.url).origin;
    const issued = await fetch(`${origin}/_entra/${tenant}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "c1000000-0000-4000-8000-000000000001", client_secret: "cli-secret", scope: "499b84ac-1321-427f-aa17-267ca6975798/.default" }).toString(),
    });
    const token = (await issued.json()) as { access_token: string; expires_in: number };
    const pools = await fetch(`${cli.url}/_apis/distributedtask/pools`, { headers: { Authorization: `Bearer ${token.access_token}` } });
    const stopped = await cli.stop();
    // THEN
    expect(issued.status).toBe(200);
    expect(token.expires_in).toBe(120);
    // organizationMembers not given: every configured application is a member.
    expect(pools.status).toBe(200);
    expect(stopped.code).toBe(0);
  });
});
