// The fake agent package (test/fake-agent) against the fake server: the real CLI surface of
// config.sh / run.sh / config.sh remove (contract §4), run as processes from an extracted package.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it, type TestContext } from "vitest";
import { agentEnv, buildFakeAgentPackage, configArgs, extractPackage, makeTempDir, runAgentScript, startAgentScript } from "../fake-agent/harness.ts";
import { startTestProxy } from "../support/http-proxy.ts";
import { startFakeAdo, type FakeAdo, type FakeAdoOptions, type RequestLogEntry } from "./server.ts";
import { testPools } from "./test-pools.ts";

const PAT = "agent-pat-0123456789abcdef";
const EXPIRED_PAT = "expired-pat-0123456789abcdef";
const TEST_TIMEOUT_MS = 30_000;

let packageDir: { path: string; remove: () => Promise<void> };
let tarball = "";

beforeAll(async () => {
  packageDir = await makeTempDir("fake-agent-pkg-");
  tarball = await buildFakeAgentPackage(join(packageDir.path, "vsts-agent-linux-x64-4.264.2.tar.gz"));
});

afterAll(async () => {
  await packageDir.remove();
});

interface Setup {
  fake: FakeAdo;
  /** A fresh agent directory with the package extracted (a new "container"). */
  newAgentDir: () => Promise<string>;
  config: (dir: string, overrides?: Partial<Parameters<typeof configArgs>[0]>, env?: NodeJS.ProcessEnv) => ReturnType<typeof runAgentScript>;
}

async function setup(context: TestContext, options: FakeAdoOptions = {}): Promise<Setup> {
  const fake = await startFakeAdo({ pats: [PAT], expiredPats: [EXPIRED_PAT], pools: [testPools.agents], messageHoldMs: 300, whenNoAgentMatches: "fail", ...options });
  const dirs: { remove: () => Promise<void> }[] = [];
  context.onTestFinished(async () => {
    await fake.close();
    await Promise.all(dirs.map((dir) => dir.remove()));
  });
  const newAgentDir = async (): Promise<string> => {
    const dir = await makeTempDir("fake-agent-");
    dirs.push(dir);
    await extractPackage(tarball, dir.path);
    return dir.path;
  };
  const config: Setup["config"] = (dir, overrides = {}, env = agentEnv()) =>
    runAgentScript(dir, "config.sh", configArgs({ url: fake.url, token: PAT, pool: testPools.agents, agent: "agent-1", ...overrides }), env);
  return { fake, newAgentDir, config };
}

/** `METHOD path` with ids and query values that vary per run replaced, for order assertions. */
function shape(entry: RequestLogEntry): string {
  const path = entry.path
    .replace(/^\/fakeorg/, "")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "{guid}");
  return `${entry.method} ${path}`;
}

describe.concurrent("GIVEN the fake agent package and the fake server", { timeout: TEST_TIMEOUT_MS }, () => {
  it("should configure, run one job with --once and remove itself, with the real request sequence", async (context) => {
    const { expect } = context;
    // GIVEN
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    // WHEN
    const configured = await config(dir);
    const [requestId = 0] = fake.enqueueJobs(1, { script: 'echo "hello from $AGENT_NAME"\npwd' });
    const ran = await runAgentScript(dir, "run.sh", ["--once"]);
    const removed = await runAgentScript(dir, "config.sh", ["remove", "--unattended", "--auth", "PAT", "--token", PAT]);
    // THEN configure
    expect(configured.code, configured.stderr).toBe(0);
    expect(configured.stdout).toContain(">> Connect:");
    expect(configured.stdout).toContain("Successfully added the agent");
    expect(configured.stdout).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z: Settings Saved\./);
    // THEN run
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/Z: Listening for Jobs\n.*Z: Running job: Job\n/);
    expect(ran.stdout).toContain("[step] hello from agent-1");
    expect(ran.stdout).toMatch(/Z: Job Job completed with result: Succeeded/);
    expect(fake.job(requestId)).toMatchObject({ state: "finished", result: "succeeded", exitCode: 0, agentName: "agent-1", output: `hello from agent-1\n${dir}/_work/1/s\n` });
    // THEN remove
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(
      [
        "Removing agent from the server",
        "Connecting to server ...",
        "Succeeded: Removing agent from the server",
        "Removing .credentials",
        "Succeeded: Removing .credentials",
        "Removing .agent",
        "Succeeded: Removing .agent",
        "",
      ].join("\n"),
    );
    expect(fake.state().agents).toEqual([]);
    expect(existsSync(join(dir, ".agent")) || existsSync(join(dir, ".credentials"))).toBe(false);
    // THEN the calls, in order (long polls vary in number and are left out)
    const calls = fake.requests().filter((entry) => !entry.path.includes("/messages?"));
    expect(calls.map(shape)).toEqual([
      "GET /_apis/connectionData?connectOptions=0&lastChangeId=0&lastChangeId64=0",
      "GET /_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1",
      `GET /_apis/distributedtask/pools?poolName=${testPools.agents}&poolType=Automation`,
      "GET /_apis/distributedtask/pools/1/agents?agentName=agent-1&includeCapabilities=False",
      "POST /_apis/distributedtask/pools/1/agents",
      "POST /_apis/oauth2/token",
      "GET /_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1",
      "POST /_apis/oauth2/token",
      "POST /_apis/distributedtask/pools/1/sessions",
      "DELETE /_apis/distributedtask/pools/1/messages/1?sessionId={guid}",
      "PATCH /_apis/distributedtask/pools/1/jobrequests/1?lockToken={guid}",
      "POST /_apis/distributedtask/hubs/build/plans/{guid}/logs",
      "PATCH /_apis/distributedtask/pools/1/jobrequests/1?lockToken={guid}",
      "DELETE /_apis/distributedtask/pools/1/sessions/{guid}",
      "GET /_apis/connectionData?connectOptions=0&lastChangeId=0&lastChangeId64=0",
      "GET /_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1",
      "GET /_apis/distributedtask/pools/1/agents?agentName=agent-1&includeCapabilities=False",
      "DELETE /_apis/distributedtask/pools/1/agents/1",
    ]);
    // THEN the headers of the .NET client (§1.2, §1.3): PAT calls as VstsAgent, the rest with the agent's bearer token
    const agentCalls = fake.requests().filter((entry) => !entry.path.includes("/oauth2/token"));
    expect(agentCalls.every((entry) => entry.fedAuthRedirect === "Suppress")).toBe(true);
    expect(new Set(agentCalls.map((entry) => `${entry.authScheme ?? ""}:${entry.basicUser ?? ""}:${entry.principal}`))).toEqual(
      new Set(["Basic:VstsAgent:pat", "Bearer::agent:agent-1"]),
    );
    expect(calls.find((entry) => entry.path.includes("agents?agentName"))?.accept).toBe("application/json; api-version=6.0-preview.2");
    expect(calls[0]?.userAgent).toMatch(/^VSServices\/.* VstsAgentCore-linux-x64\/4\.264\.2/);
  });

  it("should keep the agent id when a new container configures the same name with --replace", async (context) => {
    const { expect } = context;
    // GIVEN an agent registered from a first directory
    const { fake, newAgentDir, config } = await setup(context);
    await config(await newAgentDir());
    const firstId = fake.state().agents[0]?.id;
    const dir = await newAgentDir();
    // WHEN
    const replaced = await config(dir, { replace: true });
    // THEN
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stdout).toContain("Successfully replaced the agent");
    expect(JSON.parse(await readFile(join(dir, ".agent"), "utf8"))).toMatchObject({ agentId: firstId, agentName: "agent-1", poolId: 1, poolName: testPools.agents });
    expect(fake.state().agents.map((agent) => agent.id)).toEqual([firstId]);
    expect(fake.requests().map(shape)).toContain("PUT /_apis/distributedtask/pools/1/agents/1");
  });

  it("should refuse the same name without --replace (exit 1)", async (context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir, config } = await setup(context);
    await config(await newAgentDir());
    const dir = await newAgentDir();
    // WHEN
    const result = await config(dir, { replace: false });
    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Pool 1 already contains an agent with name agent-1.");
    expect(existsSync(join(dir, ".agent"))).toBe(false);
  });

  it("should fail with the agent's message when the pool does not exist (exit 1)", async (context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir, config } = await setup(context);
    // WHEN
    const result = await config(await newAgentDir(), { pool: "nope" });
    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Agent pool not found: 'nope'");
  });

  it.for([
    ["an unknown PAT", "not-a-pat", "ok", "VS30063: You are not authorized to access {origin}."],
    ["an expired PAT", EXPIRED_PAT, "ok", "Access Denied: The Personal Access Token used has expired."],
    ["an unknown PAT in html203 mode (the client suppresses the sign-in page)", "not-a-pat", "html203", "VS30063: You are not authorized to access {origin}."],
  ] as const)("should print what the real agent prints for %s and exit 1", async ([, token, mode, message], context) => {
    const { expect } = context;
    // GIVEN
    const { fake, newAgentDir, config } = await setup(context, { authFailureMode: mode });
    const dir = await newAgentDir();
    // WHEN
    const result = await config(dir, { token });
    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message.replace("{origin}", fake.baseUrl));
    expect(existsSync(join(dir, ".agent"))).toBe(false);
    expect(fake.state().agents).toEqual([]);
  });

  it("should refuse to configure twice (exit 1)", async (context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    // WHEN
    const result = await config(dir);
    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Cannot configure the agent because it is already configured. To reconfigure the agent, run 'config.cmd remove' or './config.sh remove' first.");
  });

  it.skipIf(process.getuid?.() !== 0).for([
    ["config.sh", ["--unattended"], "Must not run with sudo"],
    ["run.sh", ["--once"], "Must not run interactively with sudo"],
  ] as const)("should refuse %s as root without AGENT_ALLOW_RUNASROOT (exit 1)", async ([script, args, message], context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir } = await setup(context);
    // WHEN
    const result = await runAgentScript(await newAgentDir(), script, args, agentEnv({ AGENT_ALLOW_RUNASROOT: undefined }));
    // THEN
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(message);
  });

  it("should exit 1 from run.sh when the agent is not configured", async (context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir } = await setup(context);
    // WHEN
    const result = await runAgentScript(await newAgentDir(), "run.sh", ["--once"]);
    // THEN
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Agent is not configured.");
  });

  it("should refuse removal while the agent runs a job and succeed after it (§3.7.6)", async (context) => {
    const { expect } = context;
    // GIVEN an agent running a job that waits for a release file
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const release = join(dir, "release");
    const [requestId = 0] = fake.enqueueJobs(1, { script: `echo started\nwhile [ ! -e "${release}" ]; do sleep 0.05; done\necho released` });
    const agent = startAgentScript(dir, "run.sh", ["--once"]);
    await agent.waitForOutput(/\[step\] started/);
    // WHEN
    const refused = await runAgentScript(dir, "config.sh", ["remove", "--unattended", "--auth", "PAT", "--token", PAT]);
    await writeFile(release, "");
    const ran = await agent.exited;
    const removed = await runAgentScript(dir, "config.sh", ["remove", "--unattended", "--auth", "PAT", "--token", PAT]);
    // THEN
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("Failed: Removing agent from the server");
    expect(refused.stderr).toContain(`Agent "agent-1" is running a job for pool "${testPools.agents}"`);
    expect(ran.code, ran.stderr + ran.stdout).toBe(0);
    expect(fake.job(requestId).result).toBe("succeeded");
    expect(removed.code, removed.stderr).toBe(0);
    expect(fake.state().agents).toEqual([]);
  });

  it("should hide VSO_AGENT_IGNORE'd variables from the capabilities only (case-sensitively), and VSTS_AGENT_INPUT_* from everything", async (context) => {
    const { expect } = context;
    // GIVEN the token passed the way start.sh hides it, a name listed in another case, and one
    // variable that must stay visible
    const { fake, newAgentDir } = await setup(context);
    const dir = await newAgentDir();
    const env = agentEnv({
      AZP_TOKEN: "secret-azp-token",
      AZP_TOKEN_FILE: "/azp/.token",
      VSO_AGENT_IGNORE: "AZP_TOKEN, AZP_TOKEN_FILE,team_secret",
      TEAM_SECRET: "upper-case",
      KEEP_ME: "visible",
      LONG_VALUE: "x".repeat(1024),
      VSTS_AGENT_INPUT_TOKEN: PAT,
    });
    const args = configArgs({ url: fake.url, token: "", pool: testPools.agents, agent: "agent-1" }).filter((arg, index, all) => arg !== "--token" && all[index - 1] !== "--token");
    const configured = await runAgentScript(dir, "config.sh", args, env);
    const [requestId = 0] = fake.enqueueJobs(1, { script: "env | sort", variables: { "my.pipeline.var": "from-pipeline" } });
    // WHEN
    const ran = await runAgentScript(dir, "run.sh", ["--once"], env);
    // THEN (EnvironmentCapabilitiesProvider.cs: the list only filters capabilities; steps inherit
    // the listener's environment)
    expect(configured.code, configured.stderr).toBe(0);
    expect(ran.code, ran.stderr).toBe(0);
    const output = fake.job(requestId).output ?? "";
    expect(output).toMatch(/^AZP_TOKEN=secret-azp-token$/m);
    expect(output).not.toContain("VSTS_AGENT_INPUT_TOKEN");
    expect(output).not.toContain(PAT);
    expect(output).toMatch(/^KEEP_ME=visible$/m);
    expect(output).toMatch(/^MY_PIPELINE_VAR=from-pipeline$/m);
    expect(output).toMatch(/^AGENT_NAME=agent-1$/m);
    expect(output).toMatch(/^BUILD_BUILDID=1$/m);
    expect(output).toMatch(new RegExp(`^SYSTEM_JOBID=${fake.job(requestId).jobId}$`, "m"));
    expect(output).toMatch(new RegExp(`^AGENT_WORKFOLDER=${dir}/_work$`, "m"));
    expect(output).toMatch(/^TF_BUILD=True$/m);
    const capabilities = fake.state().agents[0]?.systemCapabilities ?? {};
    expect(capabilities).not.toHaveProperty("AZP_TOKEN");
    expect(capabilities).not.toHaveProperty("AZP_TOKEN_FILE");
    expect(capabilities).not.toHaveProperty("VSTS_AGENT_INPUT_TOKEN");
    expect(capabilities).not.toHaveProperty("LONG_VALUE");
    // Ordinal comparison on Linux: `team_secret` does not hide TEAM_SECRET.
    expect(capabilities).toMatchObject({ TEAM_SECRET: "upper-case", KEEP_ME: "visible", "Agent.Name": "agent-1", "Agent.Version": "4.264.2", "Agent.OS": "Linux", "Agent.OSArchitecture": "X64" });
    expect(JSON.stringify(fake.state())).not.toContain(PAT);
  });

  it.for(["SIGTERM", "SIGINT"] as const)("should cancel the running job on %s, delete its session and exit 0", async (signal, context) => {
    const { expect } = context;
    // GIVEN an agent in the middle of a long step
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const [requestId = 0] = fake.enqueueJobs(1, { script: "echo started\nsleep 300\necho never" });
    const agent = startAgentScript(dir, "run.sh", ["--once"]);
    await agent.waitForOutput(/\[step\] started/);
    // WHEN
    const signalled = Date.now();
    agent.signal(signal);
    const result = await agent.exited;
    // THEN run.sh traps nothing: SIGTERM ends it at once (the listener, signalled with its group,
    // shuts down by itself); after SIGINT bash waits for the listener, which exits 0.
    expect(result.signal ?? result.code, result.stderr).toBe(signal === "SIGINT" ? 0 : "SIGTERM");
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(result.stdout).toMatch(/Z: Job Job completed with result: Canceled/);
    // Agent.cs CtrlCHandler prints "Exiting..." for Ctrl-C only.
    expect(result.stdout.includes("Exiting...")).toBe(signal === "SIGINT");
    const job = fake.job(requestId);
    expect(job).toMatchObject({ state: "finished", result: "canceled" });
    expect(job.output).toContain("started\n");
    expect(job.output).not.toContain("never");
    expect(job.output).toContain("##[error]The agent has received a shutdown signal.");
    expect(fake.state().sessions).toEqual([]);
    expect(fake.state().agents[0]?.status).toBe("offline");
    expect(fake.requests().map(shape)).toContain("DELETE /_apis/distributedtask/pools/1/sessions/{guid}");
  });

  it("should cancel a job on JobCancellation and keep taking jobs without --once", async (context) => {
    const { expect } = context;
    // GIVEN a listener without --once running a long job
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const [first = 0] = fake.enqueueJobs(1, { script: "echo first\nsleep 300" });
    const agent = startAgentScript(dir, "run.sh", []);
    await agent.waitForOutput(/\[step\] first/);
    // WHEN the test cancels it, then queues another job
    fake.cancelJob(first);
    await fake.waitFor(() => fake.job(first).result, { what: "the canceled result" });
    const [second = 0] = fake.enqueueJobs(1, { script: "echo second" });
    await fake.waitFor(() => fake.job(second).result, { what: "the second job" });
    agent.signal("SIGTERM");
    const result = await agent.exited;
    // THEN
    expect(fake.job(first)).toMatchObject({ result: "canceled", cancelRequested: true });
    expect(fake.job(first).output).toContain("##[error]The operation was canceled.");
    expect(fake.job(second)).toMatchObject({ result: "succeeded", output: "second\n" });
    expect(result.signal, result.stderr + result.stdout).toBe("SIGTERM");
    expect(fake.state().sessions).toEqual([]);
    expect(result.stdout).toMatch(/Job Job completed with result: Canceled[\s\S]*Job Job completed with result: Succeeded/);
  });

  it("should retry a session conflict and give up with exit 1 when another listener holds the session", async (context) => {
    const { expect } = context;
    // GIVEN a listener holding the agent's session
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const first = startAgentScript(dir, "run.sh", []);
    await first.waitForOutput(/Listening for Jobs/);
    // WHEN a second listener starts for the same agent
    const second = await runAgentScript(dir, "run.sh", ["--once"], agentEnv({ FAKE_AGENT_SESSION_CONFLICT_TIMEOUT_SECONDS: "1" }));
    first.signal("SIGTERM");
    const firstResult = await first.exited;
    // THEN
    expect(second.code).toBe(1);
    expect(second.stdout).toContain("A session for this agent already exists.");
    expect(second.stdout).toContain("Stop retry on SessionConflictException after retried for 1 seconds.");
    expect(firstResult.signal).toBe("SIGTERM");
    expect(fake.state().sessions).toEqual([]);
  });

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it.for([
    ["a background process", "sleep 300 >/dev/null 2>&1 &"],
    ["a process in a new session (setsid)", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"],
  ] as const)("should not let %s a step leaves behind outlive the job (JobExtension.cs: by the job's lookup id)", async ([, start], context) => {
    const { expect } = context;
    // GIVEN a step that leaves a process behind and returns
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const pidFile = join(dir, "orphan.pid");
    const [requestId = 0] = fake.enqueueJobs(1, { script: `${start}\necho $! > "${pidFile}"` });
    // WHEN
    const ran = await runAgentScript(dir, "run.sh", ["--once"]);
    // THEN
    expect(ran.code, ran.stderr).toBe(0);
    expect(fake.job(requestId).result).toBe("succeeded");
    const orphan = Number(await readFile(pidFile, "utf8"));
    await fake.waitFor(() => !alive(orphan), { what: `process ${orphan} to be gone` });
  });

  it.for([
    ["the job sets process.clean: false", { "process.clean": "False" }, "sleep 300 >/dev/null 2>&1 &"],
    ["the process drops the job's environment (env -i)", {}, "env -i setsid sleep 300 >/dev/null 2>&1 < /dev/null &"],
  ] as const)("should leave a process running when %s, as the real agent does", async ([, variables, start], context) => {
    const { expect } = context;
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const pidFile = join(dir, "orphan.pid");
    fake.enqueueJobs(1, { script: `${start}\necho $! > "${pidFile}"`, variables });
    const ran = await runAgentScript(dir, "run.sh", ["--once"]);
    expect(ran.code, ran.stderr).toBe(0);
    const orphan = Number(await readFile(pidFile, "utf8"));
    context.onTestFinished(() => {
      if (alive(orphan)) process.kill(orphan, "SIGKILL");
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(alive(orphan)).toBe(true);
  });

  it("should print its console lines in the culture's language (StringUtil.Loc), English for C", async (context) => {
    const { expect } = context;
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    // env.sh keeps the configure-time LANG in .env, which the listener loads.
    const germanEnv = agentEnv({ LANG: "de_DE.UTF-8", LC_ALL: undefined, LC_MESSAGES: undefined });
    await config(dir, {}, germanEnv);
    fake.enqueueJobs(1, { script: "true", displayName: "Bauen" });
    const german = await runAgentScript(dir, "run.sh", ["--once"], germanEnv);
    expect(german.stdout).toMatch(/Z: Auf Aufträge lauschen\n/);
    expect(german.stdout).toMatch(/Z: Bauen wird ausgeführt\n/);
    expect(german.stdout).toMatch(/Z: Der Auftrag „Bauen“ wurde mit folgendem Ergebnis abgeschlossen: Succeeded\n/);
    expect(german.stdout).not.toContain("Running job");
  });

  it("should report its capabilities again when it opens a session (MessageListener.CreateSessionAsync)", async (context) => {
    const { expect } = context;
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir, {}, agentEnv({ TOOLS: "configured" }));
    expect(fake.state().agents[0]?.systemCapabilities["TOOLS"]).toBe("configured");
    const agent = startAgentScript(dir, "run.sh", ["--once"], agentEnv({ TOOLS: "at-run-time" }));
    await agent.waitForOutput(/Listening for Jobs/);
    expect(fake.state().agents[0]?.systemCapabilities["TOOLS"]).toBe("at-run-time");
    agent.signal("SIGTERM");
    await agent.exited;
  });

  it("should hang after deleting its session when told to (azure-pipelines-agent#5563), deaf to SIGTERM", async (context) => {
    const { expect } = context;
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const [requestId = 0] = fake.enqueueJobs(1, { script: "true" });
    const agent = startAgentScript(dir, "run.sh", ["--once"], agentEnv({ FAKE_AGENT_HANG_AFTER_SESSION_DELETE: "1" }));
    await fake.waitFor(() => fake.job(requestId).result, { what: "the job" });
    await fake.waitFor(() => fake.state().sessions.length === 0, { what: "the session to be deleted" });
    agent.signal("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let exited = false;
    void agent.exited.then(() => (exited = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(exited).toBe(false);
    agent.signal("SIGKILL");
    await agent.exited;
  });

  it.for([
    ["exit 3", "echo before\nexit 3", 3, "before\n##[error]Bash exited with code '3'.\n"],
    ["a failing command under bash -e", "false\necho unreachable", 1, "##[error]Bash exited with code '1'.\n"],
  ] as const)("should report %s as failed with the step's exit code", async ([, script, exitCode, output], context) => {
    const { expect } = context;
    // GIVEN
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    await config(dir);
    const [requestId = 0] = fake.enqueueJobs(1, { script });
    // WHEN
    const ran = await runAgentScript(dir, "run.sh", ["--once"]);
    // THEN
    expect(ran.code, ran.stderr + ran.stdout).toBe(0);
    expect(ran.stdout).toContain("Job Job completed with result: Failed");
    expect(fake.job(requestId)).toMatchObject({ result: "failed", exitCode, output });
  });

  it("should keep the PAT and authenticate with it when the server hands out no OAuth client (pat mode)", async (context) => {
    const { expect } = context;
    // GIVEN
    const { fake, newAgentDir, config } = await setup(context, { agentCredentials: "pat" });
    const dir = await newAgentDir();
    await config(dir);
    const [requestId = 0] = fake.enqueueJobs(1, { script: "echo pat-mode" });
    // WHEN
    const ran = await runAgentScript(dir, "run-docker.sh", ["--once"]);
    // THEN
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain("Agent exit code 0");
    expect(JSON.parse(await readFile(join(dir, ".credentials"), "utf8"))).toEqual({ scheme: "PAT", data: { token: PAT } });
    expect(fake.job(requestId).result).toBe("succeeded");
    const sessionCall = fake.requests().find((entry) => entry.method === "POST" && entry.path.endsWith("/sessions"));
    expect(sessionCall).toMatchObject({ authScheme: "Basic", basicUser: "VstsAgent", principal: "pat" });
  });

  it("should build a package without a top-level directory, with exec bits, stamped and padded", async (context) => {
    const { expect } = context;
    // GIVEN
    const dir = await makeTempDir("fake-agent-build-");
    context.onTestFinished(dir.remove);
    // WHEN
    const built = await buildFakeAgentPackage(join(dir.path, "out", "pkg.tar.gz"), { version: "5.278.0", platform: "linux-arm64", padMb: 1 });
    const listing = await runAgentScript(dir.path, "/bin/tar", ["-tvzf", built]);
    await extractPackage(built, dir.path);
    const version = await runAgentScript(dir.path, "bin/Agent.Listener", ["--version"]);
    // THEN
    const members = listing.stdout.trim().split("\n").map((line) => {
      const fields = line.split(/\s+/);
      return [fields[0], fields[2], fields[5]];
    });
    expect(members).toEqual(
      expect.arrayContaining([
        ["drwxr-xr-x", "0", "./"],
        ["-rwxr-xr-x", expect.any(String), "./config.sh"],
        ["-rwxr-xr-x", expect.any(String), "./run.sh"],
        ["-rwxr-xr-x", expect.any(String), "./run-docker.sh"],
        ["-rwxr-xr-x", expect.any(String), "./env.sh"],
        ["-rw-r--r--", expect.any(String), "./license.html"],
        ["-rwxr-xr-x", expect.any(String), "./bin/Agent.Listener"],
        ["-rwxr-xr-x", expect.any(String), "./bin/installdependencies.sh"],
        [expect.any(String), String(1024 * 1024), "./bin/fake-padding.bin"],
      ]),
    );
    expect(members.every(([, , name]) => name === "./" || name?.startsWith("./"))).toBe(true);
    expect(version.stdout).toBe("5.278.0\n");
  });

  it("should report its stamped version and keep env.sh safe to source under set -euo pipefail", async (context) => {
    const { expect } = context;
    // GIVEN
    const { newAgentDir } = await setup(context);
    const dir = await newAgentDir();
    // WHEN
    const version = await runAgentScript(dir, "bin/Agent.Listener", ["--version"]);
    const sourced = await runAgentScript(dir, "env.sh", [], agentEnv());
    const strict = await runAgentScript(dir, "/bin/bash", ["-c", "set -Eeuo pipefail; source ./env.sh; declare -F | grep -c env_sh || true; echo sourced"]);
    // THEN
    expect(version.stdout).toBe("4.264.2\n");
    expect(sourced.code).toBe(0);
    expect({ code: strict.code, stdout: strict.stdout }).toEqual({ code: 0, stdout: "0\nsourced\n" });
    expect(await readFile(join(dir, ".path"), "utf8")).toBe(`${process.env["PATH"] ?? ""}\n`);
  });
});

describe("GIVEN a proxy (AgentKnobs.cs: VSTS_HTTP_PROXY, else http_proxy; never HTTPS_PROXY)", { timeout: TEST_TIMEOUT_MS }, () => {
  it.for([
    ["VSTS_HTTP_PROXY with its own credential variables", (url: string) => ({ VSTS_HTTP_PROXY: url, VSTS_HTTP_PROXY_USERNAME: "svc", VSTS_HTTP_PROXY_PASSWORD: "pw" }), "svc:pw"],
    ["lower-case http_proxy", (url: string) => ({ http_proxy: url }), undefined],
  ] as const)("should send everything through %s", async ([, env, credentials], context) => {
    const { expect } = context;
    const proxy = await startTestProxy();
    context.onTestFinished(() => proxy.close());
    const { fake, newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    const configured = await config(dir, {}, agentEnv(env(proxy.url)));
    expect(configured.code, configured.stderr).toBe(0);
    expect(proxy.requests.length).toBeGreaterThan(3);
    expect(proxy.requests.every((r) => r.target.startsWith(fake.url) && r.credentials === credentials)).toBe(true);
    expect(proxy.requests.length).toBe(fake.requests().length);
  });

  it("should ignore HTTPS_PROXY and https_proxy, as the real agent does", async (context) => {
    const { expect } = context;
    const proxy = await startTestProxy();
    context.onTestFinished(() => proxy.close());
    const { newAgentDir, config } = await setup(context);
    const dir = await newAgentDir();
    // The fake is http://, so curl would use http_proxy for it: point these at the proxy too, to
    // show only the agent's own variable counts.
    const configured = await config(dir, {}, agentEnv({ HTTPS_PROXY: proxy.url, https_proxy: proxy.url, HTTP_PROXY: proxy.url, ALL_PROXY: proxy.url }));
    expect(configured.code, configured.stderr).toBe(0);
    expect(proxy.requests).toEqual([]);
  });
});
