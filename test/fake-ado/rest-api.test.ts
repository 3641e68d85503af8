// The fake's REST surface against the contract (/work/shared/ado-contract.md), without the bash
// agent: what KEDA, start.sh, a smoke test and an agent see on the wire.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeAdo, type FakeAdo } from "./server.ts";
import { createSpecValidator } from "./spec.ts";
import {
  API,
  basic,
  bearer,
  call,
  clientAssertion,
  exchangeToken,
  list,
  newAgentKey,
  obj,
  openSession,
  patchJob,
  poll,
  registerAgent,
  takeNextJob,
} from "./test-client.ts";
import { testPools } from "./test-pools.ts";

const PAT = "valid-pat-0123456789";
const EXPIRED_PAT = "expired-pat-0123456789";
const PAT_AUTH = basic("user", PAT);
const TARBALL = Buffer.from("fake tarball bytes for 4.264.2");
const spec = createSpecValidator();

let fake: FakeAdo;

beforeAll(async () => {
  fake = await startFakeAdo({
    pats: [PAT],
    expiredPats: [EXPIRED_PAT],
    pools: [testPools.agents, { name: testPools.deployment, poolType: "deployment" }],
    packages: [
      { version: "4.250.0", data: Buffer.from("older"), platforms: ["linux-x64"] },
      { version: "4.264.2", data: TARBALL, platforms: ["linux-x64", "linux-arm64"] },
      { version: "3.248.0", data: Buffer.from("oldest"), platforms: ["linux-x64"] },
    ],
    messageHoldMs: 150,
    // As Azure DevOps: a job no agent of the pool can take fails at once (job-matching.test.ts).
    whenNoAgentMatches: "fail",
  });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

describe("GIVEN the fake's authentication (§1.2, §2)", () => {
  it.each([
    ["Basic with any username (start.sh)", basic("user", PAT)],
    ["Basic with an empty username (KEDA)", basic("", PAT)],
    ["Basic VstsAgent (the agent)", basic("VstsAgent", PAT)],
    ["Bearer <PAT>", bearer(PAT)],
  ])("should accept %s", async (_name, auth) => {
    // WHEN
    const result = await call(fake, "/_apis/connectionData?connectOptions=0&lastChangeId=0&lastChangeId64=0", { auth });
    // THEN
    expect(result.status).toBe(200);
    expect(obj(result.body)["deploymentType"]).toBe("hosted");
    expect(obj(obj(result.body)["locationServiceData"])["serviceOwner"]).toBe("00025394-6065-48ca-87d9-7f5672854ef7");
  });

  it.each([
    ["an unknown PAT", basic("user", "nope")],
    ["no Authorization header", undefined],
    ["a garbled Basic credential", "Basic !!!"],
  ])("should answer %s with 401, a Basic challenge and TF400813", async (_name, auth) => {
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", auth === undefined ? {} : { auth });
    // THEN
    expect(result.status).toBe(401);
    expect(result.headers.get("www-authenticate")).toBe(`Basic realm="${fake.baseUrl}/"`);
    expect(result.headers.get("x-tfs-serviceerror")).toBeNull();
    expect(result.body).toEqual({
      $id: "1",
      innerException: null,
      message: "TF400813: The user '' is not authorized to access this resource.",
      typeName: "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
      typeKey: "UnauthorizedRequestException",
      errorCode: 0,
      eventId: 3000,
    });
  });

  it("should answer an expired PAT with 401, X-TFS-ServiceError and an AccessCheckException body", async () => {
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: basic("", EXPIRED_PAT) });
    // THEN
    expect(result.status).toBe(401);
    expect(result.headers.get("x-tfs-serviceerror")).toBe("Access%20Denied%3A%20The%20Personal%20Access%20Token%20used%20has%20expired.");
    const body = obj(result.body);
    expect(body["typeKey"]).toBe("AccessCheckException");
    expect(body["message"]).toBe("Access Denied: The Personal Access Token used has expired.");
    expect(obj(body["customProperties"])["NamespaceId"]).toBe("00000000-0000-0000-0000-000000000000");
  });

  it.each([
    ["GET", "/_apis/distributedtask/pools", 203],
    ["POST", "/_apis/distributedtask/pools/1/agents", 203],
    ["PATCH", "/_apis/distributedtask/pools/1/agents/1", 401],
  ])("should answer %s %s with bad credentials in html203 mode with %i", async (method, path, status) => {
    // GIVEN
    fake.auth({ mode: "html203" });
    // WHEN
    const result = await call(fake, path, { method, auth: basic("", "nope"), json: {} });
    // THEN
    expect(result.status).toBe(status);
    if (status === 203) {
      expect(result.headers.get("content-type")).toMatch(/^text\/html/);
      expect(result.text).toContain("Azure DevOps Services | Sign In");
    }
  });

  it("should answer 401 in html203 mode when the client sends X-TFS-FedAuthRedirect: Suppress", async () => {
    // GIVEN
    fake.auth({ mode: "html203" });
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: basic("", "nope"), headers: { "X-TFS-FedAuthRedirect": "Suppress" } });
    // THEN
    expect(result.status).toBe(401);
    expect(obj(result.body)["typeKey"]).toBe("UnauthorizedRequestException");
  });

  it("should switch PATs and the failure mode through POST /_fake/auth without echoing secrets", async () => {
    // WHEN
    const response = await fetch(`${fake.baseUrl}/_fake/auth`, { method: "POST", body: JSON.stringify({ pats: ["fresh"], expiredPats: [PAT], mode: "ok" }) });
    // THEN
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ mode: "ok", validPats: 1, expiredPats: 2 });
    expect(text).not.toContain("fresh");
    expect((await call(fake, "/_apis/distributedtask/pools", { auth: basic("", "fresh") })).status).toBe(200);
    expect((await call(fake, "/_apis/distributedtask/pools", { auth: PAT_AUTH })).headers.get("x-tfs-serviceerror")).not.toBeNull();
  });
});

describe("GIVEN agent packages (§3.3, §3.4)", () => {
  it.each([
    ["start.sh: platform + top=1", "/_apis/distributedtask/packages/agent?platform=linux-x64&top=1", ["4.264.2"]],
    ["start.ps1: platform + $top=1", "/_apis/distributedtask/packages/agent?platform=linux-x64&$top=1", ["4.264.2"]],
    ["route form with $top", "/_apis/distributedtask/packages/agent/linux-x64?$top=2", ["4.264.2", "4.250.0"]],
    ["no top: all, newest first", "/_apis/distributedtask/packages/agent?platform=linux-x64", ["4.264.2", "4.250.0", "3.248.0"]],
    ["version-major is ignored", "/_apis/distributedtask/packages/agent?platform=linux-x64&version-major=3&top=1", ["4.264.2"]],
    ["upper-case parameter names", "/_apis/distributedtask/packages/agent?PLATFORM=linux-arm64&TOP=1", ["4.264.2"]],
    ["an unknown platform", "/_apis/distributedtask/packages/agent?platform=win-x64", []],
    ["the pipelines-agent type", "/_apis/distributedtask/packages/pipelines-agent?platform=linux-x64", []],
  ])("should answer %s", async (_name, path, versions) => {
    // WHEN
    const result = await call(fake, path, { auth: PAT_AUTH, headers: { Accept: "application/json;" } });
    // THEN
    expect(result.status).toBe(200);
    const packages = list(result.body);
    expect(packages.map((pkg) => Object.values(obj(pkg["version"])).join("."))).toEqual(versions);
    for (const pkg of packages) spec.assertValid("PackageMetadata", pkg);
  });

  it("should serve the advertised bytes anonymously from downloadUrl with hashValue = their sha256", async () => {
    // GIVEN
    const [latest] = list((await call(fake, "/_apis/distributedtask/packages/agent?platform=linux-x64&top=1", { auth: PAT_AUTH })).body);
    // WHEN
    const download = await fetch(String(latest?.["downloadUrl"]));
    const bytes = Buffer.from(await download.arrayBuffer());
    // THEN
    expect(latest?.["downloadUrl"]).toBe(`${fake.baseUrl}/_downloads/agent/4.264.2/vsts-agent-linux-x64-4.264.2.tar.gz`);
    expect(latest?.["filename"]).toBe("vsts-agent-linux-x64-4.264.2.tar.gz");
    expect(download.status).toBe(200);
    expect(bytes.equals(TARBALL)).toBe(true);
    expect(latest?.["hashValue"]).toBe(createHash("sha256").update(TARBALL).digest("hex"));
  });

  it("should answer the version route form with one PackageMetadata object", async () => {
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/packages/agent/linux-arm64/4.264.2", { auth: PAT_AUTH });
    // THEN
    expect(result.status).toBe(200);
    expect(obj(result.body)["platform"]).toBe("linux-arm64");
    expect((await call(fake, "/_apis/distributedtask/packages/agent/linux-arm64/1.0.0", { auth: PAT_AUTH })).status).toBe(404);
  });
});

describe("GIVEN pools (§3.5, §3.6)", () => {
  it.each([
    ["poolName in another case", `?poolName=${testPools.agents.toUpperCase()}`, [testPools.agents]],
    ["poolName + poolType=Automation (the agent)", `?poolName=${testPools.agents}&poolType=Automation`, [testPools.agents]],
    ["poolType=deployment", "?poolType=deployment", [testPools.deployment]],
    ["a missing pool", "?poolName=nope", []],
    ["no filter", "", [testPools.agents, testPools.deployment]],
    ["poolIds", "?poolIds=2", [testPools.deployment]],
    ["KEDA's poolID", "?poolID=1", [testPools.agents]],
  ])("should filter by %s", async (_name, query, names) => {
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools${query}`, { auth: PAT_AUTH });
    // THEN
    expect(result.status).toBe(200);
    const pools = list(result.body);
    expect(pools.map((pool) => pool["name"])).toEqual(names);
    for (const pool of pools) spec.assertValid("TaskAgentPool", pool);
  });

  it("should answer KEDA's poolID for an unknown id and GET pools/{id} for an unknown id with 404", async () => {
    // WHEN
    const byQuery = await call(fake, "/_apis/distributedtask/pools?poolID=99", { auth: PAT_AUTH });
    const byRoute = await call(fake, "/_apis/distributedtask/pools/99", { auth: PAT_AUTH });
    const known = await call(fake, "/_apis/distributedtask/pools/1", { auth: PAT_AUTH });
    // THEN
    expect(byQuery.status).toBe(404);
    expect(obj(byQuery.body)["typeKey"]).toBe("TaskAgentPoolNotFoundException");
    expect(byRoute.status).toBe(404);
    expect(known.status).toBe(200);
    expect(obj(known.body)["name"]).toBe(testPools.agents);
  });
});

describe("GIVEN agent registration (§3.7)", () => {
  it("should add an agent offline, with OAuth authorization data pointing at the fake's token endpoint", async () => {
    // WHEN
    const { agent, key } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    // THEN
    spec.assertValid("TaskAgent", agent);
    expect(agent["status"]).toBe("offline");
    expect(agent["provisioningState"]).toBe("Provisioned");
    const authorization = obj(agent["authorization"]);
    expect(authorization["clientId"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(authorization["authorizationUrl"]).toBe(`${fake.url}/_apis/oauth2/token`);
    expect(authorization["publicKey"]).toEqual(key.publicKey);
    expect(obj(agent["systemCapabilities"])["Agent.Name"]).toBe("agent-a");
  });

  it("should refuse a duplicate name (any case) with 409 TaskAgentExistsException", async () => {
    // GIVEN
    await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools/1/agents", { method: "POST", auth: PAT_AUTH, apiVersion: API.ga, json: { name: "AGENT-A" } });
    // THEN
    expect(result.status).toBe(409);
    expect(obj(result.body)).toMatchObject({ typeKey: "TaskAgentExistsException", message: "Pool 1 already contains an agent with name AGENT-A." });
  });

  it.each([
    ["includeCapabilities=False", "False", false],
    ["includeCapabilities=true", "true", true],
  ])("should list by agentName with %s", async (_name, flag, expectCapabilities) => {
    // GIVEN
    await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    await registerAgent(fake, 1, "agent-b", PAT_AUTH);
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools/1/agents?agentName=agent-a&includeCapabilities=${flag}`, { auth: PAT_AUTH });
    // THEN
    const agents = list(result.body);
    expect(agents.map((agent) => agent["name"])).toEqual(["agent-a"]);
    expect("systemCapabilities" in (agents[0] ?? {})).toBe(expectCapabilities);
  });

  it("should keep the id on PUT and expire the session the previous registration held", async () => {
    // GIVEN
    const { agent } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    const sessionId = String(obj((await openSession(fake, 1, Number(agent["id"]), PAT_AUTH)).body)["sessionId"]);
    const replacement = { ...agent, version: "4.270.0", authorization: { publicKey: newAgentKey().publicKey } };
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools/1/agents/${String(agent["id"])}`, { method: "PUT", auth: PAT_AUTH, apiVersion: API.ga, json: replacement });
    // THEN
    expect(result.status).toBe(200);
    expect(obj(result.body)).toMatchObject({ id: agent["id"], version: "4.270.0", status: "offline" });
    const stalePoll = await poll(fake, 1, sessionId, PAT_AUTH);
    expect(stalePoll.status).toBe(404);
    expect(obj(stalePoll.body)["typeKey"]).toBe("TaskAgentSessionExpiredException");
  });

  it("should disable an agent with PATCH", async () => {
    // GIVEN
    const { agent } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools/1/agents/${String(agent["id"])}`, { method: "PATCH", auth: PAT_AUTH, apiVersion: API.ga, json: { id: agent["id"], enabled: false } });
    // THEN
    expect(obj(result.body)["enabled"]).toBe(false);
  });

  it("should refuse to delete a busy agent with TaskAgentBusyException and delete it once its job finished (§3.7.6)", async () => {
    // GIVEN an agent holding an assigned job
    const taken = await takeNextJob(fake, 1, "busy-agent", PAT_AUTH, { enqueue: { script: "sleep 1" } });
    const requestId = taken.requestId;
    const agentUrl = `/_apis/distributedtask/pools/1/agents/${taken.agentId}`;
    // WHEN
    const refused = await call(fake, agentUrl, { method: "DELETE", auth: PAT_AUTH, apiVersion: API.ga });
    await patchJob(fake, 1, requestId, PAT_AUTH, { result: "succeeded", finishTime: new Date().toISOString() });
    const accepted = await call(fake, agentUrl, { method: "DELETE", auth: PAT_AUTH, apiVersion: API.ga });
    // THEN
    expect(refused.status).toBe(400);
    expect(obj(refused.body)).toMatchObject({
      typeKey: "TaskAgentBusyException",
      message: `Agent "busy-agent" is running a job for pool "${testPools.agents}"`,
      typeName: "Microsoft.TeamFoundation.DistributedTask.WebApi.TaskAgentBusyException, Microsoft.TeamFoundation.DistributedTask.WebApi",
    });
    expect(accepted.status).toBe(204);
    expect(fake.state().agents).toEqual([]);
  });

  it("should leave clientId and authorizationUrl out when agentCredentials is pat (Azure DevOps Server)", async () => {
    // GIVEN
    const server = await startFakeAdo({ pats: [PAT], pools: ["p"], agentCredentials: "pat" });
    try {
      // WHEN
      const { agent } = await registerAgent(server, 1, "agent-a", PAT_AUTH);
      // THEN
      expect(Object.keys(obj(agent["authorization"]))).toEqual(["publicKey"]);
    } finally {
      await server.close();
    }
  });
});

describe("GIVEN the listener protocol (§3.8)", () => {
  it("should answer 202 with an empty body when nothing arrives within the hold", async () => {
    // GIVEN
    const { agent } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    const session = obj((await openSession(fake, 1, Number(agent["id"]), PAT_AUTH)).body);
    spec.assertValid("TaskAgentSession", session);
    // WHEN
    const started = Date.now();
    const result = await poll(fake, 1, String(session["sessionId"]), PAT_AUTH);
    // THEN
    expect(result.status).toBe(202);
    expect(result.text).toBe("");
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(fake.state().agents[0]?.status).toBe("online");
  });

  it("should refuse a second live session with 409 TaskAgentSessionConflictException", async () => {
    // GIVEN
    const { agent } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    await openSession(fake, 1, Number(agent["id"]), PAT_AUTH);
    // WHEN
    const second = await openSession(fake, 1, Number(agent["id"]), PAT_AUTH);
    // THEN
    expect(second.status).toBe(409);
    expect(obj(second.body)["typeKey"]).toBe("TaskAgentSessionConflictException");
  });

  it("should deliver a queued job to the polling agent as a PipelineAgentJobRequest carrying the script", async () => {
    // GIVEN
    const job = { script: "echo hi", displayName: "Build", variables: { "my.var": "x" } };
    // WHEN
    const taken = await takeNextJob(fake, 1, "agent-a", PAT_AUTH, { enqueue: job });
    const [requestId] = taken.enqueued;
    // THEN
    expect(taken.requestId).toBe(requestId);
    const steps = taken.jobMessage["steps"] as Record<string, unknown>[];
    expect(obj(steps[0]?.["inputs"])["script"]).toBe("echo hi");
    expect(taken.jobMessage).toMatchObject({ jobDisplayName: "Build", messageType: "PipelineAgentJobRequest" });
    expect(obj(obj(taken.jobMessage["variables"])["my.var"])).toEqual({ value: "x" });
    expect(fake.job(requestId ?? 0)).toMatchObject({ state: "assigned", agentName: "agent-a" });
  });

  it("should send JobCancellation when a test cancels a job the agent is running", async () => {
    // GIVEN a received job
    const taken = await takeNextJob(fake, 1, "agent-a", PAT_AUTH, { enqueue: { script: "sleep 100" } });
    const requestId = taken.requestId;
    await call(fake, `/_apis/distributedtask/pools/1/messages/${taken.messageId}?sessionId=${taken.sessionId}`, { method: "DELETE", auth: PAT_AUTH, apiVersion: API.messages });
    await patchJob(fake, 1, requestId, PAT_AUTH, { lockedUntil: null });
    // WHEN
    const cancel = await fetch(`${fake.baseUrl}/_fake/jobs/${requestId}/cancel`, { method: "POST" });
    const message = obj((await poll(fake, 1, taken.sessionId, PAT_AUTH, taken.messageId)).body);
    // THEN
    expect(cancel.status).toBe(200);
    spec.assertValid("TaskAgentMessage", message);
    expect(message["messageType"]).toBe("JobCancellation");
    expect(JSON.parse(String(message["body"]))).toEqual({ jobId: taken.jobMessage["jobId"], timeout: "00:05:00" });
    expect(fake.job(requestId)).toMatchObject({ state: "received", cancelRequested: true });
  });
});

describe("GIVEN KEDA's jobrequests forms (§3.9, §5)", () => {
  // One finished, one received (running) and one queued request, newest first. Only an offline
  // template agent offering maven (KEDA's "parent") matches the queued one.
  async function seedLifecycle(): Promise<{ finished: number; received: number; queued: number }> {
    const { requestId: finished } = await takeNextJob(fake, 1, "agent-1", PAT_AUTH, { enqueue: { script: "true" } });
    await patchJob(fake, 1, finished, PAT_AUTH, { lockedUntil: null });
    await patchJob(fake, 1, finished, PAT_AUTH, { result: "succeeded" });
    const { requestId: received } = await takeNextJob(fake, 1, "agent-2", PAT_AUTH, { enqueue: { script: "sleep 100" } });
    await patchJob(fake, 1, received, PAT_AUTH, { lockedUntil: null });
    await call(fake, "/_apis/distributedtask/pools/1/agents", {
      method: "POST",
      auth: PAT_AUTH,
      apiVersion: API.ga,
      json: { name: "template", version: "4.264.2", systemCapabilities: { maven: "3.9", "Agent.Version": "4.264.2" } },
    });
    const [queued = 0] = fake.enqueueJobs(1, { script: "true", demands: ["maven", "Agent.Version -gtVersion 2.182.1"] });
    expect(fake.job(queued).state).toBe("queued");
    return { finished, received, queued };
  }

  it.each([
    ["$top=250 (default jobsToFetch)", "?$top=250", ["queued", "received", "finished"], false],
    ["completedRequestCount=0 (fetchUnfinishedJobsOnly)", "?completedRequestCount=0", ["queued", "received"], true],
    ["no filter (parent)", "", ["queued", "received", "finished"], true],
    ["$top together with completedRequestCount=0 ($top wins)", "?$top=250&completedRequestCount=0", ["queued", "received", "finished"], false],
    ["$top=1", "?$top=1", ["queued"], false],
  ] as const)("should answer %s", async (_name, query, states, withMatchedAgents) => {
    // GIVEN
    const ids = await seedLifecycle();
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools/1/jobrequests${query}`, { auth: basic("", PAT) });
    // THEN
    const jobs = list(result.body);
    expect(jobs.map((job) => job["requestId"])).toEqual(states.map((state) => ids[state]));
    for (const job of jobs) {
      expect("matchedAgents" in job).toBe(withMatchedAgents);
      spec.assertValid("TaskAgentJobRequest", job);
    }
  });

  it.each([
    ["queued", ["queueTime"], ["assignTime", "reservedAgent", "receiveTime", "lockedUntil", "finishTime", "result"]],
    ["received", ["queueTime", "assignTime", "reservedAgent", "receiveTime", "lockedUntil"], ["finishTime", "result"]],
    ["finished", ["queueTime", "assignTime", "reservedAgent", "receiveTime", "finishTime", "result"], ["lockedUntil"]],
  ] as const)("should carry the lifecycle fields of a %s request", async (state, present, absent) => {
    // GIVEN
    const ids = await seedLifecycle();
    // WHEN
    const job = obj((await call(fake, `/_apis/distributedtask/pools/1/jobrequests/${ids[state]}`, { auth: PAT_AUTH })).body);
    // THEN
    for (const field of present) expect(job[field], field).toBeDefined();
    for (const field of absent) expect(job, field).not.toHaveProperty(field);
  });

  it("should carry assignTime and reservedAgent for an assigned, not yet received request", async () => {
    // GIVEN
    const { requestId } = await takeNextJob(fake, 1, "agent-1", PAT_AUTH, { enqueue: { script: "true" } });
    // WHEN
    const job = obj((await call(fake, `/_apis/distributedtask/pools/1/jobrequests/${requestId}`, { auth: PAT_AUTH })).body);
    // THEN
    expect(job).toHaveProperty("assignTime");
    expect(obj(job["reservedAgent"])["name"]).toBe("agent-1");
    expect(job).not.toHaveProperty("receiveTime");
  });

  it("should send demands as strings, never an empty date, and match agents per the demand rules", async () => {
    // GIVEN an offline template agent offering maven (KEDA's "parent"), seeded by seedLifecycle
    await seedLifecycle();
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools/1/jobrequests", { auth: PAT_AUTH });
    // THEN
    expect(result.text).not.toMatch(/"(queueTime|assignTime|receiveTime|finishTime|lockedUntil)":""/);
    const queued = list(result.body)[0] ?? {};
    expect(queued["demands"]).toEqual(["maven", "Agent.Version -gtVersion 2.182.1"]);
    expect((queued["matchedAgents"] as Record<string, unknown>[]).map((agent) => [agent["name"], agent["status"]])).toEqual([["template", "offline"]]);
  });

  it("should return at most 200 requests even for $top=250", async () => {
    // GIVEN 205 queued requests (an offline agent matches them)
    await registerAgent(fake, 1, "agent-1", PAT_AUTH);
    fake.enqueueJobs(1, { script: "true", count: 205 });
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools/1/jobrequests?$top=250", { auth: PAT_AUTH });
    // THEN
    expect(list(result.body)).toHaveLength(200);
  });
});

describe("GIVEN agent OAuth credentials (§3.7 step 9)", () => {
  async function oauthAgent(name: string): Promise<{ agent: Record<string, unknown>; token: string; key: ReturnType<typeof newAgentKey> }> {
    const { agent, key } = await registerAgent(fake, 1, name, PAT_AUTH);
    const exchanged = await exchangeToken(fake, agent, key);
    if (exchanged.status !== 200) throw new Error(`token exchange failed: ${exchanged.text}`);
    return { agent, key, token: String(obj(exchanged.body)["access_token"]) };
  }

  it("should exchange a JWT client assertion signed with the registered key for a bearer token", async () => {
    // GIVEN
    const { agent, key } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    // WHEN
    const result = await exchangeToken(fake, agent, key);
    // THEN
    expect(result.status).toBe(200);
    expect(obj(result.body)).toMatchObject({ token_type: "bearer", expires_in: 3600 });
    expect((await call(fake, "/_apis/connectionData", { auth: bearer(String(obj(result.body)["access_token"])) })).status).toBe(200);
  });

  it.each([
    ["a JWT signed by another key", (_key: ReturnType<typeof newAgentKey>, clientId: string, url: string) => clientAssertion(newAgentKey(), clientId, url)],
    ["an expired JWT", (key: ReturnType<typeof newAgentKey>, clientId: string, url: string) => clientAssertion(key, clientId, url, { exp: 1_000_000 })],
    ["a JWT for another audience", (key: ReturnType<typeof newAgentKey>, clientId: string) => clientAssertion(key, clientId, "http://elsewhere/_apis/oauth2/token")],
    ["an unknown client id", (key: ReturnType<typeof newAgentKey>, _clientId: string, url: string) => clientAssertion(key, "6f2c1c3e-0000-4000-8000-00000000dead", url)],
  ])("should refuse %s with 401 invalid_client", async (_name, makeAssertion) => {
    // GIVEN
    const { agent, key } = await registerAgent(fake, 1, "agent-a", PAT_AUTH);
    const authorization = obj(agent["authorization"]);
    const url = String(authorization["authorizationUrl"]);
    // WHEN
    const result = await call(fake, url, {
      method: "POST",
      form: {
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: makeAssertion(key, String(authorization["clientId"]), url),
      },
    });
    // THEN
    expect(result.status).toBe(401);
    expect(obj(result.body)["error"]).toBe("invalid_client");
  });

  it.each([
    ["list agents", "GET", "/_apis/distributedtask/pools/1/agents"],
    ["delete an agent", "DELETE", "/_apis/distributedtask/pools/1/agents/1"],
    ["add an agent", "POST", "/_apis/distributedtask/pools/1/agents"],
    ["replace an agent", "PUT", "/_apis/distributedtask/pools/1/agents/1"],
    ["list pools", "GET", "/_apis/distributedtask/pools"],
    ["list packages", "GET", "/_apis/distributedtask/packages/agent"],
    ["list job requests", "GET", "/_apis/distributedtask/pools/1/jobrequests"],
  ])("should refuse the agent token to %s (401)", async (_name, method, path) => {
    // GIVEN
    const { token } = await oauthAgent("agent-a");
    // WHEN
    const result = await call(fake, path, { method, auth: bearer(token), json: {} });
    // THEN
    expect(result.status).toBe(401);
    expect(obj(result.body)["message"]).toBe("TF400813: The user 'agent-a' is not authorized to access this resource.");
    expect(fake.state().agents).toHaveLength(1);
  });

  it("should accept the agent token for its own session, messages, job request and log, but not another agent's", async () => {
    // GIVEN
    const { agent, token } = await oauthAgent("agent-a");
    const other = await oauthAgent("agent-b");
    const [requestId = 0] = fake.enqueueJobs(1, { script: "echo hi" });
    // WHEN
    const session = await openSession(fake, 1, Number(agent["id"]), bearer(token));
    const foreignSession = await openSession(fake, 1, Number(agent["id"]), bearer(other.token));
    const sessionId = String(obj(session.body)["sessionId"]);
    const message = obj((await poll(fake, 1, sessionId, bearer(token))).body);
    const foreignPoll = await poll(fake, 1, sessionId, bearer(other.token));
    const renew = await patchJob(fake, 1, requestId, bearer(token), { lockedUntil: null });
    const foreignFinish = await patchJob(fake, 1, requestId, bearer(other.token), { result: "failed" });
    const log = await call(fake, `/_apis/distributedtask/hubs/build/plans/${fake.job(requestId).planId}/logs`, {
      method: "POST",
      auth: bearer(token),
      apiVersion: API.jobrequests,
      json: { requestId, exitCode: 0, output: "hi\n" },
    });
    const finish = await patchJob(fake, 1, requestId, bearer(token), { result: "succeeded" });
    // THEN
    expect(session.status).toBe(200);
    expect(foreignSession.status).toBe(401);
    expect(message["messageType"]).toBe("PipelineAgentJobRequest");
    expect(foreignPoll.status).toBe(401);
    expect(renew.status).toBe(200);
    expect(foreignFinish.status).toBe(401);
    expect(log.status).toBe(200);
    spec.assertValid("TaskLog", log.body);
    expect(finish.status).toBe(200);
    expect(fake.job(requestId)).toMatchObject({ state: "finished", result: "succeeded", output: "hi\n", exitCode: 0 });
  });

  it("should revoke the agent's tokens when the agent is replaced", async () => {
    // GIVEN
    const { agent, token } = await oauthAgent("agent-a");
    // WHEN
    await call(fake, `/_apis/distributedtask/pools/1/agents/${String(agent["id"])}`, { method: "PUT", auth: PAT_AUTH, apiVersion: API.ga, json: { ...agent, authorization: { publicKey: newAgentKey().publicKey } } });
    // THEN
    expect((await openSession(fake, 1, Number(agent["id"]), bearer(token))).status).toBe(401);
  });
});

describe("GIVEN the request log and request tolerance (§1.1, §1.3, §3)", () => {
  it("should log scheme and Basic username but never the secret", async () => {
    // GIVEN
    fake.clearRequests();
    // WHEN
    await call(fake, `/_apis/distributedtask/pools?poolName=${testPools.agents}`, { auth: basic("VstsAgent", PAT), headers: { "X-TFS-FedAuthRedirect": "Suppress" } });
    await call(fake, "/_apis/distributedtask/pools", { auth: basic("", "wrong-secret") });
    const response = await fetch(`${fake.baseUrl}/_fake/requests`);
    const text = await response.text();
    // THEN
    const entries = list(JSON.parse(text) as unknown);
    expect(entries.map((entry) => [entry["method"], entry["path"], entry["status"], entry["authScheme"], entry["basicUser"], entry["principal"]])).toEqual([
      ["GET", `/fakeorg/_apis/distributedtask/pools?poolName=${testPools.agents}`, 200, "Basic", "VstsAgent", "pat"],
      ["GET", "/fakeorg/_apis/distributedtask/pools", 401, "Basic", "", "rejected"],
    ]);
    expect(entries[0]?.["fedAuthRedirect"]).toBe("Suppress");
    expect(text).not.toContain(PAT);
    expect(text).not.toContain("wrong-secret");
    expect(text).not.toContain(Buffer.from(`VstsAgent:${PAT}`).toString("base64"));
  });

  it.each([
    ["upper-case query names", `/_apis/distributedtask/pools?POOLNAME=${testPools.agents}&POOLTYPE=automation`],
    ["a trailing slash in the org URL (//_apis)", `/_apis/distributedtask/pools?poolName=${testPools.agents}`.replace("/_apis", "//_apis")],
    ["api-version in the Accept header", `/_apis/distributedtask/pools?poolName=${testPools.agents}`],
  ])("should tolerate %s", async (_name, path) => {
    // WHEN
    const result = await call(fake, path, { auth: PAT_AUTH, headers: { Accept: "application/json; api-version=5.1-preview.1" } });
    // THEN
    expect(result.status).toBe(200);
    expect(list(result.body).map((pool) => pool["name"])).toEqual([testPools.agents]);
  });

  it("should drive the control plane over HTTP: healthz, pools, jobs, job view, state and reset", async () => {
    // WHEN
    const health = await fetch(`${fake.baseUrl}/_fake/healthz`);
    const pool = obj(await (await fetch(`${fake.baseUrl}/_fake/pools`, { method: "POST", body: JSON.stringify({ name: "extra" }) })).json());
    await registerAgent(fake, Number(pool["id"]), "extra-agent", PAT_AUTH);
    const jobs = obj(await (await fetch(`${fake.baseUrl}/_fake/pools/${String(pool["id"])}/jobs`, { method: "POST", body: JSON.stringify({ script: "echo hi", count: 2 }) })).json());
    const job = obj(await (await fetch(`${fake.baseUrl}/_fake/jobs/${String((jobs["requestIds"] as number[])[0])}`)).json());
    const complete = await fetch(`${fake.baseUrl}/_fake/jobs/${String((jobs["requestIds"] as number[])[1])}/complete`, { method: "POST", body: JSON.stringify({ result: "failed" }) });
    const state = obj(await (await fetch(`${fake.baseUrl}/_fake/state`)).json());
    await fetch(`${fake.baseUrl}/_fake/reset`, { method: "POST" });
    // THEN
    expect(health.status).toBe(200);
    expect(pool).toMatchObject({ id: 3, name: "extra", poolType: "automation" });
    expect(jobs).toEqual({ requestIds: [1, 2], outcome: "queued", statusMessage: null, matchedAgents: ["extra-agent"] });
    expect(job).toMatchObject({ requestId: 1, state: "queued", script: "echo hi", agentName: null, result: null, output: null, exitCode: null });
    expect(obj(await complete.json())).toMatchObject({ state: "finished", result: "failed" });
    expect((state["pools"] as unknown[]).length).toBe(3);
    expect(fake.state().pools.map((p) => p.name)).toEqual([testPools.agents, testPools.deployment]);
    expect(fake.state().jobs).toEqual([]);
  });
});

describe("GIVEN the service's api-version rules (§1.3)", () => {
  it("should refuse a DELETE without api-version with 400 VssVersionNotSpecifiedException, and remove nothing", async () => {
    // GIVEN
    const { agent } = await registerAgent(fake, 1, "agent-v", PAT_AUTH);
    const agentUrl = `/_apis/distributedtask/pools/1/agents/${String(agent["id"])}`;
    // WHEN
    const result = await call(fake, agentUrl, { method: "DELETE", auth: PAT_AUTH });
    // THEN
    expect(result.status).toBe(400);
    expect(obj(result.body)).toMatchObject({
      typeKey: "VssVersionNotSpecifiedException",
      message:
        'No api-version was supplied for the "DELETE" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").',
    });
    expect(fake.state().agents.map((a) => a.name)).toEqual(["agent-v"]);
  });

  it.each([
    ["POST", "/_apis/distributedtask/pools/1/agents", { name: "x" }],
    ["PUT", "/_apis/distributedtask/pools/1/agents/1", { name: "x" }],
    ["PATCH", "/_apis/distributedtask/pools/1/agents/1", { enabled: false }],
    ["PATCH", "/_apis/distributedtask/pools/1/jobrequests/1?lockToken=00000000-0000-0000-0000-000000000000", { requestId: 1 }],
  ])("should refuse %s %s without api-version", async (method, path, json) => {
    // WHEN
    const result = await call(fake, path, { method, auth: PAT_AUTH, json });
    // THEN
    expect(result.status).toBe(400);
    expect(obj(result.body)["typeKey"]).toBe("VssVersionNotSpecifiedException");
    expect(obj(result.body)["message"]).toContain(`for the "${method}" request`);
  });

  it.each([
    ["a GET without any version", `/_apis/distributedtask/pools?poolName=${testPools.agents}`, undefined, 200, undefined],
    ["7.1 in the query of a GA resource", `/_apis/distributedtask/pools?poolName=${testPools.agents}&api-version=7.1`, undefined, 200, undefined],
    ["7.1 in the Accept header of a GA resource", `/_apis/distributedtask/pools?poolName=${testPools.agents}`, "7.1", 200, undefined],
    ["a preview version of a GA resource", `/_apis/distributedtask/pools?poolName=${testPools.agents}&api-version=5.1-preview.1`, undefined, 200, undefined],
    ["7.1 on the preview-only jobrequests", "/_apis/distributedtask/pools/1/jobrequests?api-version=7.1", undefined, 400, "VssInvalidPreviewVersionException"],
    ["5.1-preview.1 on jobrequests", "/_apis/distributedtask/pools/1/jobrequests?api-version=5.1-preview.1", undefined, 200, undefined],
    ["7.1 on connectionData", "/_apis/connectionData?api-version=7.1", undefined, 400, "VssInvalidPreviewVersionException"],
    ["7.1-preview on connectionData", "/_apis/connectionData?api-version=7.1-preview", undefined, 200, undefined],
    ["a version that does not parse", "/_apis/distributedtask/pools?api-version=1.0-bogus", undefined, 400, "VssInvalidApiVersionException"],
    ["a version above the newest", "/_apis/distributedtask/pools?api-version=9.0", undefined, 400, "VssVersionOutOfRangeException"],
  ])("should answer %s", async (_name, path, apiVersion, status, typeKey) => {
    // WHEN
    const result = await call(fake, path, { auth: PAT_AUTH, ...(apiVersion === undefined ? {} : { apiVersion }) });
    // THEN
    expect(result.status).toBe(status);
    if (typeKey !== undefined) expect(obj(result.body)["typeKey"]).toBe(typeKey);
  });

  it("should say which version to ask for when a preview-only resource gets a released one", async () => {
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/packages/agent?api-version=7.1", { auth: PAT_AUTH });
    // THEN
    expect(obj(result.body)["message"]).toBe(
      'The requested version "7.1" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "7.1-preview"',
    );
  });

  it("should not version the OAuth token endpoint (not a REST resource of the organization)", async () => {
    // GIVEN
    const { agent, key } = await registerAgent(fake, 1, "agent-t", PAT_AUTH);
    // WHEN
    const result = await exchangeToken(fake, agent, key);
    // THEN
    expect(result.status).toBe(200);
  });
});
